package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/executor/local"
	"github.com/codecheck/codecheck/adapters/webhook"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// runWork claims and runs one existing job, then exits: the Modal entry
// point. Exit 0 when completed (or already finished), 1 when failed, 3 when
// stopped before the end.
func runWork(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("work")
	jobID := fs.String("job-id", "", "id of the job to run")
	wait := fs.Bool("wait", true, "while another worker holds the job's lease, wait for it to expire (false: exit at once)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *jobID == "" {
		return usagef("work: --job-id is required")
	}
	var (
		worker *app.Worker
		sender *webhook.Sender
	)
	stop, err := startApp(context.Background(), env, baseModules(storeOptions{maxConns: 4}), &worker, &sender)
	if err != nil {
		return err
	}
	defer stop()
	// This process ends with the job: give the job's webhook, retries
	// included, a bounded time to be delivered first.
	defer flushWebhooks(env, sender)

	// SIGTERM: let running sections drain, then stop hard.
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			env.log.Info("stopping: draining running sections", "drain", env.cfg.DrainTimeout)
			worker.Stop()
			t := time.NewTimer(env.cfg.DrainTimeout)
			defer t.Stop()
			select {
			case <-t.C:
				cancel()
			case <-runCtx.Done():
			}
		case <-runCtx.Done():
		}
	}()

	job, err := worker.Work(runCtx, *jobID, *wait)
	switch {
	case errors.Is(err, domain.ErrLeaseHeld):
		fmt.Fprintf(env.stdout, "job %s is being run by another worker; not waiting (--wait=false)\n", *jobID)
		return nil
	case errors.Is(err, app.ErrJobFinished):
		fmt.Fprintf(env.stdout, "job %s is already %s; not running it again\n", job.ID, job.Status)
		return nil
	case errors.Is(err, domain.ErrNotFound):
		return fmt.Errorf("job %s not found", *jobID)
	case errors.Is(err, app.ErrReleased), errors.Is(err, domain.ErrLeaseLost):
		return exitError{exitStopped, fmt.Sprintf("job %s not finished by this worker: %v", *jobID, err)}
	case err != nil:
		return err
	}
	fmt.Fprintf(env.stdout, "job %s %s (%s)\n", job.ID, job.Status, job.Progress())
	return jobOutcome(job)
}

const webhookFlushTimeout = 25 * time.Second

func flushWebhooks(env *environment, sender *webhook.Sender) {
	if sender == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), webhookFlushTimeout)
	defer cancel()
	if err := sender.Flush(ctx); err != nil {
		env.log.Warn("webhook deliveries still pending at exit; abandoning them", "waited", webhookFlushTimeout)
	}
}

// runWorker runs workers that pull jobs from the store until SIGTERM.
func runWorker(ctx context.Context, env *environment, _ []string) error {
	var (
		worker  *app.Worker
		changes ports.Changes
	)
	stop, err := startApp(ctx, env, append(baseModules(storeOptions{}), fx.Supply(inProcess(true))), &worker, &changes)
	if err != nil {
		return err
	}
	defer stop()
	pool, err := local.New(local.Config{Runner: worker, Changes: changes, Workers: env.cfg.Workers,
		OnDrain: worker.Stop, Logger: env.log})
	if err != nil {
		return err
	}
	if err := pool.Start(ctx); err != nil {
		return err
	}
	env.log.Info("worker started", "workers", env.cfg.Workers)
	<-ctx.Done()
	env.log.Info("stopping: draining running sections", "drain", env.cfg.DrainTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), env.cfg.DrainTimeout)
	defer cancel()
	return pool.Shutdown(drainCtx)
}
