package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/adapters/webhook"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// runWork claims and runs one existing job, then exits: the Modal entry
// point. Exit 0 when completed (or already finished), 1 when failed, 2 when
// the job's provider is not configured here (the job is left as it was), 3
// when stopped before the end.
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
		meter  *metrics.Metrics
	)
	modules, targets := workModules(), []any{&worker, &sender, &meter}
	if env.cfg.APIURL != "" {
		if env.cfg.WorkerToken == "" {
			return usagef("%s: `work` with %s needs the job's worker token", envWorkerToken.Name, envAPIURL.Name)
		}
		// The server delivers the job's webhook: this worker has no outbox.
		modules, targets = workerAPIModules(), []any{&worker, &meter}
	}
	stop, err := startApp(context.Background(), env, quickStop, modules, targets...)
	if err != nil {
		return err
	}
	defer stop()
	// This process ends with the job: give the job's webhook, retries
	// included, a bounded time to be delivered first.
	defer flushWebhooks(env, sender, *jobID)

	// SIGTERM: let running sections drain, then stop hard. The watcher ends
	// before runWork returns: run cancels ctx once the command is over, and
	// a watcher still alive then would announce a drain that is not
	// happening.
	runCtx, cancel := context.WithCancel(context.Background())
	var watcher sync.WaitGroup
	defer watcher.Wait()
	defer cancel()
	watcher.Go(func() {
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
	})

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
	case errors.Is(err, app.ErrProviderUnavailable):
		// Nothing ran and the job is as it was: a configuration matter.
		return exitError{exitUsage, providerMissing(job, err)}
	}
	// The job ran here, to its end or not: nothing will scrape this
	// process, so its counters go to the log.
	env.log.LogAttrs(context.Background(), slog.LevelInfo, "work summary",
		append([]slog.Attr{slog.String("job_id", *jobID)}, meter.Summary()...)...)
	switch {
	case errors.Is(err, app.ErrReleased), errors.Is(err, domain.ErrLeaseLost):
		return exitError{exitStopped, fmt.Sprintf("job %s not finished by this worker: %v", *jobID, err)}
	case err != nil:
		return err
	}
	fmt.Fprintf(env.stdout, "job %s %s (%s)\n", job.ID, job.Status, job.Progress())
	return jobOutcome(job)
}

// providerMissing says which job cannot run here and what to set so that
// it can, in one line.
func providerMissing(job domain.Job, err error) string {
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	what := ve.Rule
	if ve.EnvVar != "" {
		what = "set " + ve.EnvVar
	}
	return fmt.Sprintf("job %s uses provider %q, which is not configured here: %s", job.ID, job.Provider, what)
}

const webhookFlushTimeout = 25 * time.Second

// flushWebhooks makes the webhook delivery the job owes now, if any, within
// webhookFlushTimeout; a retry it needs stays in the store, for a serve or
// worker process to make.
func flushWebhooks(env *environment, sender *webhook.Sender, jobID string) {
	if sender == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), webhookFlushTimeout)
	defer cancel()
	if err := sender.Flush(ctx, jobID); err != nil {
		env.log.Warn("the job's webhook is not delivered yet; it stays in the store for serve or a worker to retry",
			"job_id", jobID, "waited", webhookFlushTimeout)
	}
}

// workModules is the graph of `work`: one job, no pool, metrics only for
// the summary line.
func workModules() []fx.Option {
	return append(baseModules(workStore), metricsModule())
}

// runWorker runs workers that pull jobs from the store until SIGTERM.
func runWorker(ctx context.Context, env *environment, _ []string) error {
	stop, err := startApp(ctx, env, drainStop(env.cfg), workerModules())
	if err != nil {
		return err
	}
	env.log.Info("worker started", "workers", env.cfg.Workers, "metrics_addr", env.cfg.MetricsAddr, "version", version)
	<-ctx.Done()
	env.log.Info("stopping: draining running sections", "drain", env.cfg.DrainTimeout)
	stop()
	return nil
}

// workerModules is the graph of `worker`: the job modules, the same local
// pool as `serve`, a rescuer of expired leases (so a fleet of workers
// recovers its own crashes without a `serve`), and metrics on their own
// listener.
func workerModules() []fx.Option {
	return append(baseModules(workerProcStore), metricsModule(), executorModule("local"),
		fx.Provide(newRescuer), fx.Invoke(runRescuer, serveMetrics),
		warnIfNoProvider("this worker runs no jobs"))
}

func newRescuer(cfg config, store ports.JobStore, log *slog.Logger, h hooksIn) (*app.Rescuer, error) {
	return app.NewRescuer(app.RescuerConfig{Store: store, MaxAttempts: cfg.MaxAttempts, Hooks: app.Join(h.Hooks...), Logger: log})
}

func runRescuer(lc fx.Lifecycle, r *app.Rescuer, log *slog.Logger) {
	runInBackground(lc, "rescuer", r.Run, log)
}

// serveMetrics serves GET /metrics on CODECHECK_METRICS_ADDR while the app
// runs, unless it is off.
func serveMetrics(lc fx.Lifecycle, cfg config, m *metrics.Metrics, log *slog.Logger) {
	if cfg.MetricsAddr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	lc.Append(listen(hs, cfg.MetricsAddr, envMetricsAddr.Name, log))
}
