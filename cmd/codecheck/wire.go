package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/codecheck/codecheck/adapters/executor/local"
	"github.com/codecheck/codecheck/adapters/executor/modal"
	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/ports"
)

// Wiring: each command builds an fx app from these modules, picked by
// configuration. Constructors stay plain and do no I/O; what connects or
// listens does it in a start hook that returns at once.

// startTimeout bounds every command's start: opening and migrating the
// store, listening.
const startTimeout = 30 * time.Second

// startApp builds and starts an fx app with opts, filling targets, and
// returns a function that stops it, waiting at most stopTimeout.
func startApp(ctx context.Context, env *environment, stopTimeout time.Duration, opts []fx.Option, targets ...any) (func(), error) {
	fxApp := fx.New(append(appOptions(env), append(opts, fx.Populate(targets...))...)...)
	if err := fxApp.Err(); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := fxApp.Start(startCtx); err != nil {
		return nil, err
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := fxApp.Stop(stopCtx); err != nil {
			env.log.Warn("shutdown", "err", err)
		}
	}, nil
}

// quickStop is the stop timeout of commands that run no workers.
const quickStop = 30 * time.Second

// drainStop is the stop timeout of commands that run workers: the drain
// period plus time to release jobs and close.
func drainStop(cfg config) time.Duration { return cfg.DrainTimeout + 30*time.Second }

// appOptions are what every command's graph starts from: the configuration
// and the logger.
func appOptions(env *environment) []fx.Option {
	return []fx.Option{
		fx.Supply(env.cfg),
		fx.Supply(env.log),
		// Only the webhook module still takes the whole environment.
		fx.Supply(env),
		fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }),
	}
}

// coreModule provides the service and the worker.
func coreModule() fx.Option {
	return fx.Module("core", fx.Provide(newService, newWorker))
}

type serviceIn struct {
	fx.In
	Store           ports.JobStore
	Changes         ports.Changes
	Providers       *app.Providers
	Log             *slog.Logger
	Executor        ports.Executor                                 `optional:"true"`
	ValidateWebhook func(ctx context.Context, rawURL string) error `optional:"true"`
	Hooks           []app.Hooks                                    `group:"hooks"`
	Cfg             config
}

func newService(in serviceIn) (*app.Service, error) {
	return app.NewService(app.ServiceConfig{Store: in.Store, Changes: in.Changes, Providers: in.Providers,
		Executor: in.Executor, ValidateWebhook: in.ValidateWebhook, Logger: in.Log, Hooks: app.Join(in.Hooks...),
		DefaultReuse: in.Cfg.Reuse, DefaultMaxCostUSD: in.Cfg.Cost.MaxUSD, DefaultVerify: in.Cfg.Verify})
}

// hooksIn collects optional observers of the work (metrics, webhooks,
// progress display).
type hooksIn struct {
	fx.In
	Hooks []app.Hooks `group:"hooks"`
}

// inProcess marks commands whose worker runs jobs in this process, so that
// jobs it pulls without a hand-off are recorded as run by the local
// executor. `codecheck work` (the Modal entry point) does not supply it.
type inProcess bool

type workerIn struct {
	fx.In
	Cfg       config
	Store     ports.WorkerStore
	Changes   ports.Changes
	Providers *app.Providers
	Log       *slog.Logger
	Hooks     []app.Hooks `group:"hooks"`
	InProcess inProcess   `optional:"true"`
}

func newWorker(in workerIn) (*app.Worker, error) {
	host, _ := os.Hostname()
	executor := ""
	if in.InProcess {
		executor = local.Name
	}
	return app.NewWorker(app.WorkerConfig{Store: in.Store, Changes: in.Changes, Providers: in.Providers,
		Name: fmt.Sprintf("%s/%d", host, os.Getpid()), Executor: executor, Lease: in.Cfg.Lease, JobTimeout: in.Cfg.JobTimeout,
		SectionConcurrency: in.Cfg.SectionConc, Hooks: app.Join(in.Hooks...), Logger: in.Log,
		ReuseTTL: in.Cfg.ReuseTTL, Prices: in.Cfg.Cost.Prices})
}

// baseModules are what every job command needs: store, providers, service
// and worker.
func baseModules(o storeOptions) []fx.Option {
	return []fx.Option{storeModule(o), providersModule(), webhookModule(), coreModule()}
}

// metricsModule provides the Prometheus metrics and feeds them from the
// work through the hooks group.
func metricsModule() fx.Option {
	return fx.Module("metrics", fx.Provide(newMetrics))
}

type metricsOut struct {
	fx.Out
	Metrics *metrics.Metrics
	Hooks   app.Hooks `group:"hooks"`
}

type metricsIn struct {
	fx.In
	// Store, absent from a worker that has only the worker API, feeds the
	// queue gauges.
	Store ports.JobStore `optional:"true"`
}

func newMetrics(in metricsIn) metricsOut {
	m := metrics.New(prometheus.NewRegistry())
	if in.Store != nil {
		m.WatchQueue(in.Store)
	}
	return metricsOut{Metrics: m, Hooks: app.Hooks{ProviderCall: m.ProviderCall, SectionDone: m.SectionDone, JobDone: m.JobDone}}
}

// executorModule provides the executor picked by CODECHECK_EXECUTOR. The
// local pool starts and drains with the app, and is handed only the jobs
// whose provider this process has.
func executorModule(name string) fx.Option {
	if name == "modal" {
		return fx.Module("executor", fx.Provide(newModalExecutor))
	}
	return fx.Module("executor",
		fx.Provide(newLocalPool, func(p *local.Pool, providers *app.Providers) ports.Executor {
			return runnableOnly{Executor: p, providers: providers}
		}),
		fx.Supply(inProcess(true)),
		fx.Invoke(runPool))
}

func newLocalPool(cfg config, worker *app.Worker, changes ports.Changes, log *slog.Logger) (*local.Pool, error) {
	return local.New(local.Config{Runner: worker, Changes: changes, Workers: cfg.Workers, OnDrain: worker.Stop, Logger: log})
}

// runPool starts the pool's workers with the app; on stop, running
// sections get the drain period, then unfinished jobs go back to pending.
func runPool(lc fx.Lifecycle, cfg config, pool *local.Pool) {
	lc.Append(fx.Hook{
		OnStart: pool.Start,
		OnStop: func(ctx context.Context) error {
			drain, cancel := context.WithTimeout(ctx, cfg.DrainTimeout)
			defer cancel()
			return pool.Shutdown(drain)
		},
	})
}

func newModalExecutor(lc fx.Lifecycle, cfg config, log *slog.Logger) (ports.Executor, error) {
	// New only builds the client (its context is for logging); reaching
	// Modal waits for the start hook.
	ex, err := modal.New(context.Background(), modal.Config{App: cfg.ModalApp, Function: cfg.ModalFunction, Logger: log})
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			// A missing deployment or bad credentials show at start-up, but
			// do not stop it: the dispatcher keeps retrying, and jobs show
			// why they are still pending.
			if err := ex.CheckDeployed(ctx); err != nil {
				log.Warn("modal function not reachable yet", "err", err)
			}
			return nil
		},
		OnStop: func(context.Context) error { ex.Close(); return nil },
	})
	return ex, nil
}

// runInBackground runs run from the start of the app until it stops: the
// start hook launches it and returns, the stop hook cancels it and waits.
// Its context is not the start hook's, which ends with start-up.
func runInBackground(lc fx.Lifecycle, what string, run func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				if err := run(ctx); err != nil && ctx.Err() == nil {
					log.Error(what+" stopped", "err", err)
				}
			}()
			return nil
		},
		OnStop: func(context.Context) error {
			cancel()
			<-done
			return nil
		},
	})
}

// listen returns hooks that serve hs on addr from the start of the app
// until it stops; a listen error names the variable that set addr.
func listen(hs *http.Server, addr, variable string, log *slog.Logger) fx.Hook {
	return fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return usagef("%s: cannot listen on %s: %w", variable, addr, err)
			}
			go func() {
				if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server stopped", "addr", addr, "err", err)
				}
			}()
			return nil
		},
		OnStop: hs.Shutdown,
	}
}
