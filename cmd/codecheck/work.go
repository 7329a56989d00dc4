package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/adapters/webhook"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

func newWorkCommand(env *environment) *cobra.Command {
	var (
		jobID string
		wait  bool
	)
	cmd := &cobra.Command{
		Use:   "work --job-id ID [--wait=false]",
		Short: "Run one existing job and exit (the Modal entry point)",
		Long: `work claims one job, runs its sections that are not completed, and exits; it prints
"job ID STATUS (DONE/TOTAL)" on standard output when it ends. On a terminal it shows
the same progress display as check. If another worker holds the job's lease, it
waits until the lease expires (a crashed worker's job is resumed this way); with
--wait=false it exits 0 at once instead.

It reaches the job through DATABASE_URL, or with CODECHECK_API_URL and
CODECHECK_WORKER_TOKEN through a server's worker API (no database needed).`,
		Example: `  codecheck work --job-id 0195f0a0-6f3a-7c1e-9a4b-2f6d8e0c1a23
  CODECHECK_API_URL=https://codecheck.example.com CODECHECK_WORKER_TOKEN=$TOKEN codecheck work --job-id ID --wait=false`,
		Args: noArgs,
		Annotations: map[string]string{
			envAnnotation: envList(storeEnv, "CODECHECK_API_URL,CODECHECK_WORKER_TOKEN", runEnv, "CODECHECK_DRAIN_TIMEOUT", providerEnv, logEnv),
			exitAnnotation: `  0  the job completed, or had already ended (nothing ran), or another worker holds it (--wait=false)
  1  the job failed or was canceled
  2  bad flags or configuration, the database or server could not be reached, or the
     job's provider is not configured here (one line names the variable; the job is
     left as it was)
  3  stopped before the end (SIGTERM, a lost lease); the job goes back to pending`,
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if jobID == "" {
				return usagef("work: --job-id is required")
			}
			if err := env.load(isTerminal(env.stderr)); err != nil {
				return err
			}
			return runWork(cmd.Context(), env, jobID, wait)
		},
	}
	cmd.Flags().StringVar(&jobID, "job-id", "", "id of the job to run (required)")
	cmd.Flags().BoolVar(&wait, "wait", true, "while another worker holds the job's lease, wait for it to expire (false: exit at once)")
	return cmd
}

// runWork claims and runs one existing job, then exits: the Modal entry
// point. Exit 0 when completed (or already finished), 1 when failed, 2 when
// the job's provider is not configured here (the job is left as it was), 3
// when stopped before the end.
func runWork(ctx context.Context, env *environment, jobIDArg string, waitArg bool) error {
	jobID, wait := &jobIDArg, &waitArg
	display := newProgress(env)
	var (
		worker *app.Worker
		sender *webhook.Sender
		meter  *metrics.Metrics
	)
	modules, targets := workModules(), []any{&worker, &sender, &meter}
	var displayHooks []fx.Option
	if display.tty {
		displayHooks = []fx.Option{fx.Supply(fx.Annotate(display.startingHooks(), fx.ResultTags(`group:"hooks"`)))}
	}
	if env.cfg.APIURL != "" {
		if env.cfg.WorkerToken == "" {
			return usagef("%s: `work` with %s needs the job's worker token", envWorkerToken.Name, envAPIURL.Name)
		}
		// The server delivers the job's webhook: this worker has no outbox.
		modules, targets = workerAPIModules(), []any{&worker, &meter}
	}
	stop, err := startApp(context.Background(), env, quickStop, append(modules, displayHooks...), targets...)
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
	display.Stop(string(job.Status))
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

func newWorkerCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run workers only, pulling jobs from a shared database until SIGTERM",
		Long: `worker runs CODECHECK_WORKERS jobs at once in the same pool as serve, woken by new
jobs and polling as a fallback; it also re-queues jobs whose worker died, and serves
Prometheus metrics on CODECHECK_METRICS_ADDR. On SIGTERM or Ctrl-C, running sections
get CODECHECK_DRAIN_TIMEOUT to finish; unfinished jobs go back to pending.`,
		Example: "  DATABASE_URL=postgres://app@db/codecheck PERPLEXITY_API_KEY=$KEY codecheck worker",
		Args:    noArgs,
		Annotations: map[string]string{
			envAnnotation: envList(storeEnv, listenEnv, "CODECHECK_WORKERS,CODECHECK_MAX_ATTEMPTS,CODECHECK_DRAIN_TIMEOUT,CODECHECK_METRICS_ADDR",
				"CODECHECK_WEBHOOK_SECRET,CODECHECK_WEBHOOK_ALLOW_PRIVATE", runEnv, providerEnv, logEnv),
			exitAnnotation: exitCodesServer,
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := env.load(false); err != nil {
				return err
			}
			return runWorker(cmd.Context(), env)
		},
	}
}

// runWorker runs workers that pull jobs from the store until SIGTERM.
func runWorker(ctx context.Context, env *environment) error {
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
