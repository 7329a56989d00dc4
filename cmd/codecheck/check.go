package main

import (
	"context"
	"errors"
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

	job, _, err := svc.Submit(ctx, app.SubmitRequest{Address: address, Provider: *provider, Sections: splitList(*sections)})
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
