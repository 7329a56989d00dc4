package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/codecheck/codecheck/adapters/executor/local"
	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/ports"
)

// Wiring: each command builds an fx app from these modules, picked by
// configuration. Constructors stay plain; fx only connects them.

// startApp builds and starts an fx app with opts, filling targets, and
// returns a function that stops it.
func startApp(ctx context.Context, env *environment, opts []fx.Option, targets ...any) (func(), error) {
	return startAppStopping(ctx, env, 30*time.Second, opts, targets...)
}

// startAppStopping is startApp with the time the app may take to stop.
func startAppStopping(ctx context.Context, env *environment, stopTimeout time.Duration, opts []fx.Option, targets ...any) (func(), error) {
	all := append([]fx.Option{
		fx.Supply(env.cfg),
		fx.Supply(env.log),
		fx.Supply(env),
		fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }),
		fx.Populate(targets...),
	}, opts...)
	fxApp := fx.New(all...)
	if err := fxApp.Err(); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
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

// storeOptions tune the store for the command: a short-lived process wants
// a small pool.
type storeOptions struct{ maxConns int }

// storeModule provides the JobStore and Changes chosen by DATABASE_URL.
func storeModule(o storeOptions) fx.Option {
	return fx.Module("store",
		fx.Supply(o),
		fx.Provide(openStore),
		fx.Provide(func(s storeHandle) ports.JobStore { return s.store }),
		fx.Provide(func(s storeHandle) ports.Changes { return s.changes }),
	)
}

// providersModule provides the configured LLM providers, each behind the
// process-wide limiter.
func providersModule() fx.Option {
	return fx.Module("providers", fx.Provide(newProviders))
}

func newProviders(lc fx.Lifecycle, cfg config, log *slog.Logger) (*app.Providers, error) {
	var llms []ports.LLM
	if cfg.FakeLLM {
		f, err := fake.New(fake.Config{Latency: cfg.FakeLatency, FailRate: cfg.FakeFailRate, LogPath: cfg.FakeLog})
		if err != nil {
			return nil, err
		}
		lc.Append(fx.StopHook(f.Close))
		llms = append(llms, f)
	}
	real, err := realProviders(cfg)
	if err != nil {
		return nil, err
	}
	// Real providers share the process-wide limits; the simulated one has
	// no quota to protect.
	for _, l := range real {
		llms = append(llms, app.Limit(l, cfg.ProviderConc, cfg.ProviderRPM))
	}
	p, err := app.NewProvidersWith(app.ProvidersConfig{Default: cfg.DefaultProvider, LLMs: llms, Setup: providerSetup()})
	if errors.Is(err, app.ErrDefaultProvider) {
		return nil, usagef("CODECHECK_DEFAULT_PROVIDER: %v", err)
	}
	if err != nil {
		return nil, err
	}
	log.Debug("providers configured", "providers", p.Names(), "default", p.Default())
	return p, nil
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
}

func newService(in serviceIn) (*app.Service, error) {
	return app.NewService(app.ServiceConfig{Store: in.Store, Changes: in.Changes, Providers: in.Providers,
		Executor: in.Executor, ValidateWebhook: in.ValidateWebhook, Logger: in.Log, Hooks: app.Join(in.Hooks...)})
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
	Store     ports.JobStore
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
		SectionConcurrency: in.Cfg.SectionConc, Hooks: app.Join(in.Hooks...), Logger: in.Log})
}

// baseModules are what every job command needs: store, providers, service
// and worker.
func baseModules(o storeOptions) []fx.Option {
	return []fx.Option{storeModule(o), providersModule(), webhookModule(), coreModule()}
}
