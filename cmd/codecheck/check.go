package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

func runCheck(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("check")
	provider := fs.String("provider", "", "LLM provider: perplexity, openai, gemini or fake")
	format := fs.String("format", "md", "report format: md or json")
	out := fs.String("out", "", "write the report to this file instead of standard output")
	sections := fs.String("sections", "", "comma-separated section keys (default: all 13)")
	pf := addProjectFlags(fs)
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := checkFormat(*format); err != nil {
		return err
	}
	address := strings.Join(positional, " ")
	if _, err := domain.NormalizeAddress(address); err != nil {
		return usageError{err}
	}
	project := pf.project(fs)
	if _, err := domain.NormalizeProject(project); err != nil {
		return projectUsageError(err)
	}
	if *provider == "fake" {
		// --provider fake enables the simulated provider by itself.
		env.cfg.FakeLLM = true
	}

	display := newProgressDisplay(env.stderr)
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

	job, _, err := svc.Submit(ctx, app.SubmitRequest{Address: address, Provider: *provider,
		Sections: splitList(*sections), Project: project})
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "job %s\n", job.ID)
	display.start(job)
	final, err := worker.Work(ctx, job.ID, true)
	display.stop()
	if err != nil {
		if errors.Is(err, app.ErrReleased) || ctx.Err() != nil {
			return exitError{exitStopped, fmt.Sprintf("interrupted; job %s was given back to pending; resume it with: %s",
				job.ID, resumeCommand(env, job))}
		}
		return err
	}
	report, err := svc.Get(context.WithoutCancel(ctx), job.ID)
	if err != nil {
		return err
	}
	if err := writeReport(env.stdout, *out, *format, report); err != nil {
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

func addProjectFlags(fs *flag.FlagSet) projectFlags {
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
func (p projectFlags) project(fs *flag.FlagSet) *domain.Project {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	pr := &domain.Project{Use: *p.use, Scope: domain.Scope(*p.scope), Description: *p.description}
	if given["stories"] {
		pr.Stories = p.stories
	}
	if given["floor-area"] {
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
