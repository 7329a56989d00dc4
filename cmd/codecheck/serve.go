package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/executor/local"
	"github.com/codecheck/codecheck/adapters/executor/modal"
	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/ports"
)

// runServe runs the API server, the dispatcher and, with the local
// executor, the worker pool, until SIGTERM; then it stops accepting, lets
// running sections drain, and releases unfinished jobs to pending.
func runServe(ctx context.Context, env *environment, _ []string) error {
	cfg := env.cfg
	if err := httpapi.CheckListenSecurity(cfg.Addr, cfg.APIKeys, cfg.InsecureNoAuth); err != nil {
		return usageError{err}
	}
	if err := checkExecutorConfig(env); err != nil {
		return err
	}
	// Stopping takes the drain period plus time to release jobs and close.
	stop, err := startAppStopping(ctx, env, cfg.DrainTimeout+30*time.Second, serveModules(env, cfg.Executor))
	if err != nil {
		return err
	}
	env.log.Info("codecheck serving", "addr", cfg.Addr, "executor", cfg.Executor, "version", version)
	<-ctx.Done()
	env.log.Info("shutting down: no new requests; draining running sections", "drain", cfg.DrainTimeout)
	stop()
	return nil
}

// serveModules is the server's graph: the job modules, metrics, the
// executor, the dispatcher and the HTTP server.
func serveModules(env *environment, executor string) []fx.Option {
	m := metrics.New(prometheus.NewRegistry())
	hooks := app.Hooks{ProviderCall: m.ProviderCall, SectionDone: m.SectionDone, JobDone: m.JobDone}
	return append(baseModules(storeOptions{}),
		fx.Supply(fx.Annotate(hooks, fx.ResultTags(`group:"hooks"`))),
		fx.Supply(m),
		fx.Invoke(func(store ports.JobStore) { m.WatchQueue(store) }),
		executorModule(executor),
		fx.Provide(newDispatcher, newHTTPServer),
		fx.Invoke(startServing),
	)
}

// checkExecutorConfig stops start-up early, naming the variable, when the
// executor cannot work with the rest of the configuration.
func checkExecutorConfig(env *environment) error {
	if env.cfg.Executor != "modal" {
		return nil
	}
	su, err := parseStoreURL(env.cfg.DatabaseURL)
	if err != nil {
		return usageError{err}
	}
	if !su.Postgres {
		return usagef("DATABASE_URL: CODECHECK_EXECUTOR=modal needs a postgres:// database; workers in Modal's cloud cannot reach a local SQLite file")
	}
	if err := modal.CheckEnv(env.getenv); err != nil {
		return usageError{err}
	}
	return nil
}

// executorModule provides the executor picked by CODECHECK_EXECUTOR.
func executorModule(name string) fx.Option {
	if name == "modal" {
		return fx.Module("executor", fx.Provide(newModalExecutor))
	}
	return fx.Module("executor", fx.Provide(newLocalPool, func(p *local.Pool) ports.Executor { return p }),
		fx.Supply(inProcess(true)))
}

func newModalExecutor(lc fx.Lifecycle, cfg config, env *environment) (ports.Executor, error) {
	ex, err := modal.New(context.Background(), modal.Config{App: cfg.ModalApp, Function: cfg.ModalFunction, Logger: env.log})
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			// A missing deployment or bad credentials show at start-up, but
			// do not stop it: the dispatcher keeps retrying, and jobs show
			// why they are still pending.
			if err := ex.CheckDeployed(ctx); err != nil {
				env.log.Warn("modal function not reachable yet", "err", err)
			}
			return nil
		},
		OnStop: func(context.Context) error { ex.Close(); return nil },
	})
	return ex, nil
}

func newLocalPool(cfg config, worker *app.Worker, changes ports.Changes, env *environment) (*local.Pool, error) {
	return local.New(local.Config{Runner: worker, Changes: changes, Workers: cfg.Workers, OnDrain: worker.Stop, Logger: env.log})
}

func newDispatcher(cfg config, store ports.JobStore, changes ports.Changes, ex ports.Executor, env *environment, h hooksIn) (*app.Dispatcher, error) {
	return app.NewDispatcher(app.DispatcherConfig{Store: store, Changes: changes, Executor: ex, MaxAttempts: cfg.MaxAttempts,
		HandoffTimeout: cfg.HandoffTimeout, Hooks: app.Join(h.Hooks...), Logger: env.log})
}

func newHTTPServer(cfg config, svc *app.Service, m *metrics.Metrics, env *environment) (*httpapi.Server, error) {
	return httpapi.New(httpapi.Config{Service: svc, APIKeys: cfg.APIKeys, Logger: env.log, Metrics: m, Version: version})
}

type servingIn struct {
	fx.In
	LC         fx.Lifecycle
	Cfg        config
	Env        *environment
	API        *httpapi.Server
	Dispatcher *app.Dispatcher
	Pool       *local.Pool `optional:"true"`
}

// startServing starts, in order, the worker pool, the dispatcher and the
// HTTP server; fx stops them in reverse: the server stops accepting first,
// then dispatching stops, then the pool drains.
func startServing(in servingIn) {
	if in.Pool != nil {
		in.LC.Append(fx.Hook{
			OnStart: in.Pool.Start,
			OnStop: func(context.Context) error {
				drain, cancel := context.WithTimeout(context.Background(), in.Cfg.DrainTimeout)
				defer cancel()
				return in.Pool.Shutdown(drain)
			},
		})
	}
	var (
		cancelDispatch context.CancelFunc
		dispatched     = make(chan struct{})
	)
	in.LC.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancelDispatch = cancel
			go func() {
				defer close(dispatched)
				if err := in.Dispatcher.Run(ctx); err != nil {
					in.Env.log.Error("dispatcher stopped", "err", err)
				}
			}()
			return nil
		},
		OnStop: func(context.Context) error {
			cancelDispatch()
			<-dispatched
			return nil
		},
	})
	hs := &http.Server{Addr: in.Cfg.Addr, Handler: in.API.Handler(), ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(in.API.Close)
	in.LC.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", in.Cfg.Addr)
			if err != nil {
				return fmt.Errorf("CODECHECK_ADDR: cannot listen on %s: %w", in.Cfg.Addr, err)
			}
			go func() {
				if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					in.Env.log.Error("http server stopped", "err", err)
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error { return hs.Shutdown(ctx) },
	})
}

func runOpenAPI(_ context.Context, env *environment, args []string) error {
	fs := newFlagSet("openapi")
	asYAML := fs.Bool("yaml", false, "print YAML instead of JSON")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	spec, err := httpapi.Spec(*asYAML)
	if err != nil {
		return err
	}
	_, err = env.stdout.Write(spec)
	return err
}
