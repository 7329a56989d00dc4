package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/fx"

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
	opts := append(baseModules(storeOptions{maxConns: 4}), fx.Supply(inProcess(true)),
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
			return exitError{exitStopped, fmt.Sprintf("interrupted; job %s was given back to pending; resume it with: codecheck work --job-id %s", job.ID, job.ID)}
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
