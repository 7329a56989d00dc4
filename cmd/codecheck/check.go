package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

func newCheckCommand(env *environment) *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [flags] ADDRESS",
		Short: "Run one check in this process and print its report",
		Long: `check researches ADDRESS (the words of the arguments, joined) in this process: it creates
a job in the configured store (DATABASE_URL), runs its sections with a live
progress display, and prints the report.

Standard output carries the report alone: Markdown, or with --format json the
same document as GET /jobs/{id}/report. The job id ("job ID") and the progress
go to standard error: on a terminal a display with the address, a bar, a timer
and every section by title; otherwise one line per finished section. With --out
the report goes to that file and standard error says so.

Interrupted (Ctrl-C), the job goes back to pending and check prints the command
that resumes it without redoing finished sections.`,
		Example: `  codecheck check --provider fake "1600 Pennsylvania Ave NW, Washington, DC 20500"
  codecheck check --format json "1 Main St, Springfield, IL" | jq '.summary.key_facts'
  codecheck check --out report.md --sections zoning_use,dimensional_standards "1 Main St, Berkeley, CA"
  codecheck check --use "single-family dwelling" --scope adu --stories 1 "1 Main St, Berkeley, CA"`,
		Annotations: map[string]string{
			envAnnotation:  envList(storeEnv, listenEnv, providerEnv, runEnv, logEnv),
			exitAnnotation: exitCodesJob,
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, env, args) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.provider, "provider", "", "LLM provider: perplexity, openai, gemini or fake (default: CODECHECK_DEFAULT_PROVIDER)")
	fs.StringVar(&o.format, "format", "md", "report format: md or json (the API's report document)")
	fs.StringVar(&o.out, "out", "", "write the report to this file instead of standard output")
	fs.StringVar(&o.sections, "sections", "", "comma-separated section keys (default: all 13; codecheck sections lists them)")
	o.project = addProjectFlags(fs)
	o.reuse = reuseFlag(fs)
	o.verify = verifyFlag(fs)
	fs.Float64Var(&o.maxCost, "max-cost-usd", 0, "cost cap in US dollars: no provider call is made whose expected cost would pass it (default: CODECHECK_MAX_COST_USD)")
	_ = cmd.RegisterFlagCompletionFunc("format", fixedCompletions("md", "json"))
	_ = cmd.RegisterFlagCompletionFunc("provider", fixedCompletions(knownProviderList()...))
	_ = cmd.RegisterFlagCompletionFunc("sections", fixedCompletions(domain.SectionKeys()...))
	_ = cmd.RegisterFlagCompletionFunc("scope", fixedCompletions(scopeNames()...))
	return cmd
}

// checkOptions are check's flags.
type checkOptions struct {
	provider, format, out, sections string
	project                         projectFlags
	reuse                           func() *bool // --reuse, nil when not given
	verify                          func() *bool // --verify, nil when not given
	maxCost                         float64      // --max-cost-usd, when Changed
}

func (o *checkOptions) run(cmd *cobra.Command, env *environment, args []string) error {
	if err := checkFormat(o.format); err != nil {
		return err
	}
	address := strings.Join(args, " ")
	if _, err := domain.NormalizeAddress(address); err != nil {
		return usageError{err}
	}
	project := o.project.project(cmd.Flags())
	if _, err := domain.NormalizeProject(project); err != nil {
		return projectUsageError(err)
	}
	maxCost, err := maxCostValue(cmd.Flags().Changed("max-cost-usd"), o.maxCost)
	if err != nil {
		return usageError{err}
	}
	if err := env.load(true); err != nil {
		return err
	}
	relaxGC()
	if o.provider == "fake" {
		// --provider fake enables the simulated provider by itself.
		env.cfg.FakeLLM = true
	}
	ctx := cmd.Context()
	display := newProgress(env)
	var (
		svc    *app.Service
		worker *app.Worker
	)
	opts := append(baseModules(checkStore), fx.Supply(inProcess(true)),
		fx.Supply(fx.Annotate(display.hooks(), fx.ResultTags(`group:"hooks"`))))
	stop, err := startApp(ctx, env, quickStop, opts, &svc, &worker)
	if err != nil {
		return err
	}
	defer stop()
	pending := buildLocalAPI(env, svc)
	defer pending.close()

	job, _, err := svc.Submit(ctx, app.SubmitRequest{Address: address, Provider: o.provider,
		Sections: splitList(o.sections), Project: project, Reuse: o.reuse(), Verify: o.verify(), MaxCostUSD: maxCost})
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "job %s\n", job.ID)
	display.Start(jobState{ID: job.ID, Address: job.Address, Provider: job.Provider, Status: string(job.Status),
		Total: len(job.Sections), Started: time.Now(), Sections: sectionsOf(job.Sections), Verify: job.Verify},
		fmt.Sprintf("researching %d sections for %s with %s", len(job.Sections), job.Address, job.Provider))
	final, err := worker.Work(ctx, job.ID, true)
	display.Stop(string(final.Status))
	if err != nil {
		if errors.Is(err, app.ErrReleased) || ctx.Err() != nil {
			return exitError{exitStopped, fmt.Sprintf("interrupted; job %s was given back to pending; resume it with: %s",
				job.ID, resumeCommand(env, job))}
		}
		return err
	}
	api, err := pending.wait()
	if err != nil {
		return err
	}
	if err := printReport(context.WithoutCancel(ctx), env, api, job.ID, o.format, o.out); err != nil {
		return err
	}
	return jobOutcome(final)
}

// projectFlags are check's flags for the project: what will be built.
type projectFlags struct {
	use, scope, description *string
	stories, floorArea      *int
}

// projectFlagNames maps the project's fields to the flags that set them.
var projectFlagNames = map[string]string{
	"project.use": "use", "project.scope": "scope", "project.stories": "stories",
	"project.floor_area_sqft": "floor-area", "project.description": "description",
}

func addProjectFlags(fs *pflag.FlagSet) projectFlags {
	return projectFlags{
		use:         fs.String("use", "", "project: intended use or occupancy, e.g. \"single-family dwelling\""),
		scope:       fs.String("scope", "", "project: new, addition, alteration, adu, tenant_improvement or change_of_use"),
		stories:     fs.Int("stories", 0, "project: stories above grade (1-200)"),
		floorArea:   fs.Int("floor-area", 0, "project: floor area in square feet"),
		description: fs.String("description", "", "project: free-text description of the work"),
	}
}

// project is the project the flags describe, nil when none was given. A
// number is set only when its flag was given, so --stories 0 is refused
// rather than ignored.
func (p projectFlags) project(fs *pflag.FlagSet) *domain.Project {
	pr := &domain.Project{Use: *p.use, Scope: domain.Scope(*p.scope), Description: *p.description}
	if fs.Changed("stories") {
		pr.Stories = p.stories
	}
	if fs.Changed("floor-area") {
		pr.FloorAreaSqFt = p.floorArea
	}
	if *pr == (domain.Project{}) {
		return nil
	}
	return pr
}

// projectUsageError names the flag behind a project validation error.
func projectUsageError(err error) error {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		if name, ok := projectFlagNames[ve.Field]; ok {
			return usagef("--%s: %s", name, ve.Rule)
		}
	}
	return usageError{err}
}

// fixedCompletions completes a flag with fixed values.
func fixedCompletions(values ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
}

func knownProviderList() []string { return strings.Split(knownProviderNames(), ", ") }

func scopeNames() []string {
	out := make([]string, len(domain.Scopes))
	for i, s := range domain.Scopes {
		out[i] = string(s)
	}
	return out
}

// jobOutcome turns a finished job into the command's exit status.
func jobOutcome(job domain.Job) error {
	switch job.Status {
	case domain.JobCompleted:
		return nil
	case domain.JobFailed:
		return exitError{exitFailed, fmt.Sprintf("job %s failed (%s sections completed): %s", job.ID, job.Progress(), job.Error)}
	default:
		return exitError{exitFailed, fmt.Sprintf("job %s ended %s", job.ID, job.Status)}
	}
}

// resumeCommand is the shell command that resumes job where check left it:
// `codecheck work` with what check set up for itself and a new process
// would not have, namely the fake provider that --provider fake enabled
// and a DATABASE_URL other than the default. A password in the URL is not
// printed; the command then says to put it back.
func resumeCommand(env *environment, job domain.Job) string {
	var vars []string
	if job.Provider == fake.Name {
		vars = append(vars, envFakeLLM.Name+"=1")
	}
	note := ""
	if db := env.cfg.DatabaseURL; db != envDatabaseURL.Default {
		if shown := redactURL(db); shown != db {
			db, note = shown, " (with the database password in place of xxxxx)"
		}
		vars = append(vars, envDatabaseURL.Name+"="+shellQuote(db))
	}
	return strings.Join(append(vars, "codecheck work --job-id "+job.ID), " ") + note
}

// shellQuote quotes s for a POSIX shell unless it needs no quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// relaxGC has a check, one short process whose heap stays within a few tens
// of megabytes, collect garbage at a quarter of the default pace (GOGC=400),
// as the Go compiler does for the same reason; unless GOGC is set. At zero
// provider latency a check took 76 ms instead of 86 (40 runs each,
// alternating, on 2 cores), its peak memory unchanged.
func relaxGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
}
