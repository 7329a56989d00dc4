package main

import (
	"context"
	"io"
	"log/slog"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/ports"
)

// storeOptions tune the store for the command: its pool's default size
// (CODECHECK_DB_MAX_CONNS and the URL's pool_max_conns win), whether it
// LISTENs, and whether it owns the schema. Only `serve`, `migrate` and the
// all-in-one `check` migrate a Postgres database; the others check that it
// is at their version.
type storeOptions struct {
	maxConns int
	noListen bool
	migrate  bool
}

// The stores of the commands.
var (
	serveStore      = storeOptions{maxConns: 8, migrate: true}
	migrateStore    = storeOptions{maxConns: 2, migrate: true}
	checkStore      = storeOptions{maxConns: 4, migrate: true}
	workerProcStore = storeOptions{maxConns: 4}
	workStore       = storeOptions{maxConns: 2, noListen: true} // at most 2 connections in all
	reportStore     = storeOptions{maxConns: 2, noListen: true}
)

// storeModule provides the JobStore, Changes, WebhookOutbox and
// ProviderBudget chosen by DATABASE_URL.
func storeModule(o storeOptions) fx.Option {
	return fx.Module("store",
		fx.Supply(o),
		fx.Provide(newStore),
		fx.Provide(func(s storeHandle) ports.JobStore { return s.jobs }),
		fx.Provide(func(s storeHandle) ports.WorkerStore { return workerStore{s.jobs, s.budget} }),
		fx.Provide(func(s storeHandle) ports.Changes { return s.changes }),
		fx.Provide(func(s storeHandle) ports.WebhookOutbox { return s.outbox }),
		fx.Provide(func(s storeHandle) ports.ProviderBudget { return s.budget }),
	)
}

// storeHandle is the store before it is open. Opening connects and applies
// migrations, which is I/O that belongs in a start hook, bounded by the
// start timeout, not in a constructor. Constructors receive the handle's
// values and only keep them; fx runs the store's start hook before the
// start hooks of everything built on the store, so nothing calls it
// unopened.
type storeHandle struct {
	jobs    *openedJobs
	changes *openedChanges
	outbox  *openedOutbox
	budget  *openedBudget
}

// openedJobs, openedChanges, openedOutbox and openedBudget pass every call
// to the store opened by the start hook.
type (
	openedJobs    struct{ ports.JobStore }
	openedChanges struct{ ports.Changes }
	openedOutbox  struct{ ports.WebhookOutbox }
	openedBudget  struct{ ports.ProviderBudget }
)

// workerStore is the worker's store with the provider budget beside it, so
// that the worker API (adapters/http) grants provider calls from the same
// store it serves.
type workerStore struct {
	ports.WorkerStore
	ports.ProviderBudget
}

// openedStore is what both store adapters are.
type openedStore interface {
	ports.JobStore
	ports.Changes
	ports.WebhookOutbox
	ports.ProviderBudget
	io.Closer
}

// newStore checks DATABASE_URL and registers the hooks that open the store
// (migrating it) when the app starts and close it when the app stops.
func newStore(lc fx.Lifecycle, cfg config, o storeOptions, log *slog.Logger) (storeHandle, error) {
	su, err := parseStoreURL(cfg.DatabaseURL)
	if err != nil {
		return storeHandle{}, usageError{err}
	}
	h := storeHandle{jobs: &openedJobs{}, changes: &openedChanges{}, outbox: &openedOutbox{}, budget: &openedBudget{}}
	var s openedStore
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			opened, err := openStore(ctx, su, cfg, o, log)
			if err != nil {
				return err
			}
			s, h.jobs.JobStore, h.changes.Changes, h.outbox.WebhookOutbox = opened, opened, opened, opened
			h.budget.ProviderBudget = opened
			return nil
		},
		OnStop: func(context.Context) error { return s.Close() },
	})
	return h, nil
}

// openStore opens the store at su within ctx, migrating it if the command
// owns the schema (SQLite always: one file, one owner).
func openStore(ctx context.Context, su storeURL, cfg config, o storeOptions, log *slog.Logger) (openedStore, error) {
	if su.Postgres {
		opts := []postgres.Option{postgres.WithListenURL(cfg.ListenDatabaseURL), postgres.WithLogger(log),
			postgres.WithPooler(cfg.DBPooler), postgres.WithDefaultMaxConns(int32(o.maxConns)), postgres.WithSchema(cfg.DBSchema)}
		if cfg.DBMaxConns > 0 {
			opts = append(opts, postgres.WithMaxConns(int32(cfg.DBMaxConns)))
		}
		if o.noListen && cfg.ListenDatabaseURL == "" {
			opts = append(opts, postgres.WithoutListen())
		}
		if !o.migrate {
			opts = append(opts, postgres.WithoutMigrations())
		}
		s, err := postgres.Open(ctx, su.URL, opts...)
		if err != nil {
			// Unreachable or refused at start-up: a configuration matter.
			return nil, usagef("%s: cannot open Postgres at %s: %w", envDatabaseURL.Name, redactURL(su.URL), err)
		}
		return s, nil
	}
	s, err := sqlite.Open(ctx, su.SQLitePath)
	if err != nil {
		return nil, usagef("%s: cannot open SQLite database %s: %w", envDatabaseURL.Name, su.SQLitePath, err)
	}
	return s, nil
}
