package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/executor/modal"
	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/ports"
)

func newServeCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API server (with the local executor, its workers too)",
		Long: `serve listens on CODECHECK_ADDR and serves the API (/jobs), its spec (/openapi.json,
/openapi.yaml), the docs page (/docs), /healthz, /readyz and /metrics. It hands
pending jobs to CODECHECK_EXECUTOR: with local, its own CODECHECK_WORKERS workers run
them. On SIGTERM or Ctrl-C it stops accepting requests, lets running sections finish
within CODECHECK_DRAIN_TIMEOUT, and gives unfinished jobs back to pending.

It refuses to listen on a non-loopback address without CODECHECK_API_KEYS unless
CODECHECK_INSECURE_NO_AUTH=1.`,
		Example: `  CODECHECK_FAKE_LLM=1 codecheck serve
  CODECHECK_ADDR=0.0.0.0:8080 CODECHECK_API_KEYS=$KEY DATABASE_URL=postgres://app@db/codecheck codecheck serve`,
		Args: noArgs,
		Annotations: map[string]string{
			envAnnotation: envList("CODECHECK_ADDR,CODECHECK_API_KEYS,CODECHECK_INSECURE_NO_AUTH", storeEnv, listenEnv,
				"CODECHECK_EXECUTOR,CODECHECK_WORKERS,CODECHECK_MAX_ATTEMPTS,CODECHECK_DRAIN_TIMEOUT,CODECHECK_DISPATCH_CONCURRENCY,CODECHECK_HANDOFF_TIMEOUT",
				"CODECHECK_WEBHOOK_SECRET,CODECHECK_WEBHOOK_ALLOW_PRIVATE,CODECHECK_WORKER_SECRET,CODECHECK_MODAL_APP,CODECHECK_MODAL_FUNCTION",
				runEnv, providerEnv, logEnv),
			exitAnnotation: exitCodesServer,
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := env.load(false); err != nil {
				return err
			}
			return runServe(cmd.Context(), env)
		},
	}
}

// runServe runs the API server, the dispatcher and, with the local
// executor, the worker pool, until SIGTERM; then it stops accepting, lets
// running sections drain, and releases unfinished jobs to pending.
func runServe(ctx context.Context, env *environment) error {
	cfg := env.cfg
	if err := httpapi.CheckListenSecurity(cfg.Addr, cfg.APIKeys, cfg.InsecureNoAuth); err != nil {
		return usageError{err}
	}
	if err := checkExecutorConfig(env); err != nil {
		return err
	}
	stop, err := startApp(ctx, env, drainStop(cfg), serveModules(cfg.Executor))
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
func serveModules(executor string) []fx.Option {
	return append(baseModules(serveStore),
		metricsModule(),
		executorModule(executor),
		fx.Provide(newWorkerTokens, newDispatcher, newHTTPServer),
		fx.Invoke(startServing),
		warnIfNoProvider("POST /jobs refuses every job and this server runs none"),
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
		return usagef("%s: %s=modal needs a postgres:// database; workers in Modal's cloud cannot reach a local SQLite file",
			envDatabaseURL.Name, envExecutor.Name)
	}
	if err := modal.CheckEnv(env.getenv); err != nil {
		return usageError{err}
	}
	return nil
}

func newDispatcher(cfg config, store ports.JobStore, changes ports.Changes, ex ports.Executor, tokens *app.WorkerTokens,
	log *slog.Logger, h hooksIn) (*app.Dispatcher, error) {
	return app.NewDispatcher(app.DispatcherConfig{Store: store, Changes: changes, Executor: ex, Tokens: tokens,
		JobTimeout: cfg.JobTimeout, MaxAttempts: cfg.MaxAttempts, HandoffTimeout: cfg.HandoffTimeout,
		Concurrency: cfg.DispatchConc, Hooks: app.Join(h.Hooks...), Logger: log})
}

// newHTTPServer builds the API; with worker tokens (CODECHECK_WORKER_SECRET)
// it serves the worker API over the same store.
func newHTTPServer(cfg config, svc *app.Service, m *metrics.Metrics, tokens *app.WorkerTokens, store ports.WorkerStore,
	log *slog.Logger) (*httpapi.Server, error) {
	return httpapi.New(httpapi.Config{Service: svc, APIKeys: cfg.APIKeys, Logger: log, Metrics: m, Version: version,
		WorkerTokens: tokens, WorkerStore: store, ProviderRate: app.ProviderRate(cfg.ProviderRPM)})
}

type servingIn struct {
	fx.In
	LC         fx.Lifecycle
	Cfg        config
	Log        *slog.Logger
	API        *httpapi.Server
	Dispatcher *app.Dispatcher
}

// startServing starts the dispatcher and then the HTTP server, after the
// worker pool (started by the executor module); fx stops them in reverse:
// the server stops accepting first, then dispatching stops, then the pool
// drains.
func startServing(in servingIn) {
	runInBackground(in.LC, "dispatcher", in.Dispatcher.Run, in.Log)
	hs := &http.Server{Handler: in.API.Handler(), ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(in.API.Close)
	in.LC.Append(listen(hs, in.Cfg.Addr, envAddr.Name, in.Log))
}

func newOpenAPICommand(env *environment) *cobra.Command {
	var asYAML bool
	var version string
	cmd := &cobra.Command{
		Use:   "openapi [--yaml] [--spec-version 3.1|3.0]",
		Short: "Print the OpenAPI 3.1 spec of the API",
		Long: "openapi prints the spec serve publishes at /openapi.json (or with --yaml /openapi.yaml). " +
			"With --spec-version 3.0 it prints the same spec downgraded to OpenAPI 3.0.3, as YAML " +
			"(/openapi-3.0.yaml), for tools that read only 3.0. It needs no configuration.",
		Example:     "  codecheck openapi --yaml > api/openapi.yaml\n  codecheck openapi --spec-version 3.0 > api/openapi-3.0.yaml",
		Args:        noArgs,
		Annotations: map[string]string{exitAnnotation: exitCodesSimple},
		RunE: func(*cobra.Command, []string) error {
			var spec []byte
			var err error
			switch version {
			case "3.1":
				spec, err = httpapi.Spec(asYAML)
			case "3.0":
				spec, err = httpapi.Spec30()
			default:
				return usageError{fmt.Errorf("--spec-version: must be 3.1 or 3.0, got %q", version)}
			}
			if err != nil {
				return err
			}
			_, err = env.stdout.Write(spec)
			return err
		},
	}
	cmd.Flags().BoolVar(&asYAML, "yaml", false, "print YAML instead of JSON")
	cmd.Flags().StringVar(&version, "spec-version", "3.1", "OpenAPI version: 3.1, or 3.0 (always YAML)")
	return cmd
}
