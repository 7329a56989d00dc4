package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/codecheck/codecheck/adapters/apiclient"
	"github.com/codecheck/codecheck/domain"
)

// The everyday job commands: report, list, watch, cancel and retry. Each
// acts on the local store, or with CODECHECK_API_URL on that server.

const remoteNote = `
Without CODECHECK_API_URL it acts on the local store (DATABASE_URL); with it, on
that server's jobs through its API, sending CODECHECK_API_KEY as the bearer key.`

func newReportCommand(env *environment) *cobra.Command {
	var jobID, format, out string
	cmd := &cobra.Command{
		Use:   "report --job-id ID [--format md|json] [--out FILE]",
		Short: "Print the report of an existing job",
		Long: `report prints a job's report as it stands (finished or not): Markdown, or with
--format json the document GET /jobs/{id}/report serves.` + remoteNote,
		Example: `  codecheck report --job-id 0195f0a0-6f3a-7c1e-9a4b-2f6d8e0c1a23
  codecheck report --job-id ID --format json | jq '.sections[] | {key, status, confidence}'
  codecheck report --job-id ID --out report.md`,
		Args:        noArgs,
		Annotations: map[string]string{envAnnotation: envList(clientEnv, logEnv), exitAnnotation: exitCodesClient},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if jobID == "" {
				return usagef("report: --job-id is required")
			}
			if err := checkFormat(format); err != nil {
				return err
			}
			api, done, err := loadJobsAPI(cmd.Context(), env, reportStore)
			if err != nil {
				return err
			}
			defer done()
			return printReport(cmd.Context(), env, api, jobID, format, out)
		},
	}
	cmd.Flags().StringVar(&jobID, "job-id", "", "id of the job (required)")
	cmd.Flags().StringVar(&format, "format", "md", "md or json (the API's report document)")
	cmd.Flags().StringVar(&out, "out", "", "write the report to this file instead of standard output")
	_ = cmd.RegisterFlagCompletionFunc("format", fixedCompletions("md", "json"))
	return cmd
}

func newListCommand(env *environment) *cobra.Command {
	var (
		o      apiclient.ListOptions
		format string
	)
	cmd := &cobra.Command{
		Use:   "list [--status S] [--limit N] [--format table|json]",
		Short: "List jobs, newest first",
		Long: `list prints one line per job, newest first: id, status, progress, when it was
created, provider and address; with --format json, the page GET /jobs serves
({"jobs": [...], "next_cursor": ...}). When there are more, standard error gives
the command for the next page.` + remoteNote,
		Example: `  codecheck list
  codecheck list --status failed --limit 50
  codecheck list --format json | jq -r '.jobs[] | select(.status == "failed") | .id'
  CODECHECK_API_URL=https://codecheck.example.com CODECHECK_API_KEY=$KEY codecheck list`,
		Args:        noArgs,
		Annotations: map[string]string{envAnnotation: envList(clientEnv, logEnv), exitAnnotation: exitCodesClient},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Status != "" && !domain.JobStatus(o.Status).Valid() {
				return usagef("--status: must be one of %s, got %q", statusNames(), o.Status)
			}
			if o.Limit < 1 || o.Limit > 100 {
				return usagef("--limit: must be 1 to 100, got %d", o.Limit)
			}
			if format != "table" && format != "json" {
				return usagef("--format: must be table or json, got %q", format)
			}
			api, done, err := loadJobsAPI(cmd.Context(), env, reportStore)
			if err != nil {
				return err
			}
			defer done()
			doc, err := api.ListDocument(cmd.Context(), o)
			if err != nil {
				return apiError(env, err, "")
			}
			var page apiclient.JobList
			if err := json.Unmarshal(doc, &page); err != nil {
				return fmt.Errorf("GET /jobs: %w", err)
			}
			if format == "json" {
				_, err = env.stdout.Write(doc)
			} else {
				printJobs(env, page.Jobs)
			}
			if err != nil {
				return err
			}
			if page.NextCursor != "" {
				fmt.Fprintf(env.stderr, "more: codecheck list --cursor %s%s\n", page.NextCursor, listFlags(o, format))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Status, "status", "", "only jobs in this status: "+statusNames())
	cmd.Flags().IntVar(&o.Limit, "limit", 20, "jobs per page (1 to 100)")
	cmd.Flags().StringVar(&o.Cursor, "cursor", "", "the page after the one that printed this cursor")
	cmd.Flags().StringVar(&format, "format", "table", "table, or json (the page GET /jobs serves)")
	_ = cmd.RegisterFlagCompletionFunc("format", fixedCompletions("table", "json"))
	_ = cmd.RegisterFlagCompletionFunc("status", fixedCompletions(strings.Split(statusNames(), ", ")...))
	return cmd
}

func statusNames() string {
	names := make([]string, len(domain.JobStatuses))
	for i, s := range domain.JobStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// listFlags repeats the filters of o for the next page's command.
func listFlags(o apiclient.ListOptions, format string) string {
	s := ""
	if format != "table" {
		s += " --format " + format
	}
	if o.Status != "" {
		s += " --status " + o.Status
	}
	if o.Limit != 20 {
		s += " --limit " + strconv.Itoa(o.Limit)
	}
	return s
}

func printJobs(env *environment, jobs []apiclient.Job) {
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tPROGRESS\tCREATED\tPROVIDER\tADDRESS")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Status, j.Progress,
			j.CreatedAt.Local().Format("2006-01-02 15:04"), j.LLMProvider, oneLine(j.Address))
	}
	_ = tw.Flush()
}

func newCancelCommand(env *environment) *cobra.Command {
	return jobActionCommand(env, "cancel", "Cancel a pending or processing job",
		`cancel stops a job: it ends canceled at once, and a worker running it stops
within a second (a Modal call is canceled). A job that already ended cannot be
canceled (exit 1).`,
		func(ctx context.Context, api *apiclient.Client, id string) (apiclient.Job, error) {
			return api.Cancel(ctx, id)
		},
		func(j apiclient.Job) string { return fmt.Sprintf("job %s %s (%s)", j.ID, j.Status, j.Progress) },
		"")
}

func newRetryCommand(env *environment) *cobra.Command {
	var maxCost float64
	var cmd *cobra.Command
	cmd = jobActionCommand(env, "retry", "Run a failed or canceled job's unfinished sections again",
		`retry puts a job that ended without completing back to pending; only the sections
that are not completed run again. On a server, its workers pick the job up; on the
local store, run it with codecheck work --job-id ID, or let a running serve or
worker on the same database take it. A job whose cost cap skipped sections
(cost_capped) is retried with a higher --max-cost-usd.`,
		func(ctx context.Context, api *apiclient.Client, id string) (apiclient.Job, error) {
			limit, _ := maxCostValue(cmd.Flags().Changed("max-cost-usd"), maxCost) // checked in PreRunE
			return api.Retry(ctx, id, limit)
		},
		func(j apiclient.Job) string { return fmt.Sprintf("job %s %s (%s)", j.ID, j.Status, j.Progress) },
		"run it here with: codecheck work --job-id %s (a serve or worker on the same database takes it too)")
	cmd.Flags().Float64Var(&maxCost, "max-cost-usd", 0, "a new cost cap in US dollars for the job (default: it keeps its cap)")
	cmd.Example += "\n  codecheck retry --max-cost-usd 2 ID"
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		if _, err := maxCostValue(cmd.Flags().Changed("max-cost-usd"), maxCost); err != nil {
			return usageError{err}
		}
		return nil
	}
	return cmd
}

// jobActionCommand is cancel or retry: one POST on one job, whose new
// state is printed. localHint, when set, is printed on standard error after
// acting on the local store.
func jobActionCommand(env *environment, name, short, long string,
	act func(context.Context, *apiclient.Client, string) (apiclient.Job, error),
	say func(apiclient.Job) string, localHint string) *cobra.Command {
	return &cobra.Command{
		Use:         name + " ID",
		Short:       short,
		Long:        long + "\n" + remoteNote,
		Example:     fmt.Sprintf("  codecheck %s 0195f0a0-6f3a-7c1e-9a4b-2f6d8e0c1a23\n  CODECHECK_API_URL=http://127.0.0.1:8080 codecheck %s ID", name, name),
		Args:        oneJobID,
		Annotations: map[string]string{envAnnotation: envList(clientEnv, logEnv), exitAnnotation: exitCodesClient},
		RunE: func(cmd *cobra.Command, args []string) error {
			api, done, err := loadJobsAPI(cmd.Context(), env, reportStore)
			if err != nil {
				return err
			}
			defer done()
			j, err := act(cmd.Context(), api, args[0])
			if errors.Is(err, domain.ErrConflict) {
				return fmt.Errorf("cannot %s job %s: %w", name, args[0], err)
			}
			if err != nil {
				return apiError(env, err, args[0])
			}
			fmt.Fprintln(env.stdout, say(j))
			if localHint != "" && env.cfg.APIURL == "" {
				fmt.Fprintf(env.stderr, localHint+"\n", j.ID)
			}
			return nil
		},
	}
}

func newWatchCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a job until it ends, with the progress display",
		Long: `watch follows a job's events until it ends: on a terminal with the same display as
check (address, bar, timer, sections by title), otherwise one line per finished
section. It then prints "job ID STATUS (DONE/TOTAL)" on standard output. Against a
server it follows GET /jobs/{id}/events and resumes with Last-Event-ID when the
connection drops. Stopping watch (Ctrl-C) does not stop the job.` + remoteNote,
		Example: `  codecheck watch 0195f0a0-6f3a-7c1e-9a4b-2f6d8e0c1a23
  CODECHECK_API_URL=http://127.0.0.1:8080 codecheck watch ID && codecheck report --job-id ID`,
		Args: oneJobID,
		Annotations: map[string]string{envAnnotation: envList(clientEnv, logEnv), exitAnnotation: `  0  the job completed
  1  the job failed or was canceled, or is unknown
  2  bad flags, arguments or configuration, or the database or server
     (CODECHECK_API_URL) could not be reached, or refused the key
  3  you stopped watching before the job ended (the job goes on)`},
		RunE: func(cmd *cobra.Command, args []string) error {
			api, done, err := loadJobsAPI(cmd.Context(), env, watchStore)
			if err != nil {
				return err
			}
			defer done()
			return watchJob(cmd.Context(), env, api, args[0])
		},
	}
}

// watchJob shows the job until it ends. Events say what changed; the job,
// read again after each, gives the sections that started running.
func watchJob(ctx context.Context, env *environment, api *apiclient.Client, id string) error {
	j, err := api.Job(ctx, id)
	if err != nil {
		return apiError(env, err, id)
	}
	display := newProgress(env)
	w := &watcher{display: display, known: map[string]string{}}
	display.Start(w.state(j), fmt.Sprintf("watching job %s: %s with %s (%s, %s)", j.ID, j.Address, j.LLMProvider, j.Status, j.Progress))
	w.sync(j)
	if !domain.JobStatus(j.Status).Terminal() {
		err = api.Follow(ctx, id, "", func(e apiclient.Event) error {
			done, _ := parseProgress(e.Progress)
			switch e.Type {
			case "section":
				w.section(e.Key, e.Status, e.Error, done)
				if e.Verified {
					verified, _ := parseProgress(e.VerifiedProgress)
					display.Verified(e.Key, verified, true, "")
				}
			case "job":
				display.Job(e.Status, done)
			}
			if j, err := api.Job(ctx, id); err == nil {
				w.sync(j)
			}
			return nil
		})
	}
	if ctx.Err() != nil {
		display.Stop("")
		return exitError{exitStopped, fmt.Sprintf("stopped watching job %s; it goes on", id)}
	}
	if err != nil {
		display.Stop("")
		return apiError(env, err, id)
	}
	final, err := api.Job(ctx, id)
	if err != nil {
		display.Stop("")
		return apiError(env, err, id)
	}
	w.sync(final)
	display.Stop(final.Status)
	fmt.Fprintf(env.stdout, "job %s %s (%s)\n", final.ID, final.Status, final.Progress)
	switch final.Status {
	case string(domain.JobCompleted):
		return nil
	case string(domain.JobFailed):
		return exitError{exitFailed, fmt.Sprintf("job %s failed: %s", final.ID, final.Error)}
	}
	return exitError{exitFailed, ""}
}

// watcher feeds the display what it does not know yet.
type watcher struct {
	display *progress
	known   map[string]string // section key -> status shown
}

func (w *watcher) state(j apiclient.Job) jobState {
	done, total := parseProgress(j.Progress)
	s := jobState{ID: j.ID, Address: j.Address, Provider: j.LLMProvider, Status: j.Status, Done: done, Total: total,
		Started: j.CreatedAt, Finished: j.FinishedAt, Verify: j.Verify}
	s.Verified, _ = parseProgress(j.Verified)
	if j.StartedAt != nil {
		s.Started = *j.StartedAt
	}
	for _, sec := range j.Sections {
		title := sec.Title
		if title == "" {
			title = sectionTitle(sec.Key)
		}
		s.Sections = append(s.Sections, sectionView{Key: sec.Key, Title: title, Status: string(domain.SectionPending)})
	}
	return s
}

func (w *watcher) section(key, status, errMsg string, done int) {
	if w.known[key] == status {
		return
	}
	w.known[key] = status
	w.display.Section(key, status, errMsg, 0, done)
}

// sync shows the sections whose status the job has and the display not.
func (w *watcher) sync(j apiclient.Job) {
	done, _ := parseProgress(j.Progress)
	for _, s := range j.Sections {
		w.section(s.Key, s.Status, s.Error, done)
	}
	w.display.Job(j.Status, done)
}

// parseProgress reads "3/13".
func parseProgress(p string) (done, total int) {
	d, t, _ := strings.Cut(p, "/")
	done, _ = strconv.Atoi(d)
	total, _ = strconv.Atoi(t)
	return done, total
}

func newSectionsCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "sections",
		Short: "List the 13 section keys and titles, in report order",
		Long: `sections lists the report's sections: the keys check --sections and the API's
"sections" take, with their titles and the question each answers.`,
		Example:     "  codecheck sections\n  codecheck check --sections $(codecheck sections | awk 'NR>1 && NR<5 {print $2}' | paste -sd,) \"1 Main St, Berkeley, CA\"",
		Args:        noArgs,
		Annotations: map[string]string{exitAnnotation: exitCodesSimple},
		RunE: func(*cobra.Command, []string) error {
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tKEY\tTITLE")
			for _, s := range domain.Catalogue() {
				fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Ordinal, s.Key, s.Title)
			}
			return tw.Flush()
		},
	}
}

// watchStore is the store of watch: small, and listening for changes where
// the database can tell.
var watchStore = storeOptions{maxConns: 2}
