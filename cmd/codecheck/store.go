package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"

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
	// workerPool: on Postgres, worker traffic (the in-process workers and
	// the worker API) gets a pool of its own, CODECHECK_DB_WORKER_CONNS.
	workerPool bool
	noListen   bool
	migrate    bool
}

// The stores of the commands.
var (
	serveStore      = storeOptions{maxConns: 8, migrate: true, workerPool: true}
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
		fx.Provide(func(s storeHandle) ports.WorkerStore { return workerStore{s.workerJobs, s.workerBudget} }),
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
	// workerJobs and workerBudget serve the workers: the same store as
	// jobs and budget, or one with a pool of its own (storeOptions.workerPool).
	workerJobs   *openedJobs
	workerBudget *openedBudget
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
	h := storeHandle{jobs: &openedJobs{}, changes: &openedChanges{}, outbox: &openedOutbox{}, budget: &openedBudget{},
		workerJobs: &openedJobs{}, workerBudget: &openedBudget{}}
	var opened []io.Closer
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			s, err := openStore(ctx, su, cfg, o, log)
			if err != nil {
				return err
			}
			opened = append(opened, s)
			h.jobs.JobStore, h.changes.Changes, h.outbox.WebhookOutbox, h.budget.ProviderBudget = s, s, s, s
			h.workerJobs.JobStore, h.workerBudget.ProviderBudget = s, s
			// A store that polls learns of its own writes at once but of
			// another pool's only at the next poll: without LISTEN, one pool.
			l, listens := s.(interface{ Listens() bool })
			if !su.Postgres || !o.workerPool || cfg.DBWorkerConns == 0 || !listens || !l.Listens() {
				return nil
			}
			w, err := openWorkerPool(ctx, su, cfg, log)
			if err != nil {
				return err
			}
			opened = append(opened, w)
			h.workerJobs.JobStore, h.workerBudget.ProviderBudget = w, w
			return nil
		},
		OnStop: func(context.Context) error {
			var errs []error
			for _, c := range slices.Backward(opened) {
				errs = append(errs, c.Close())
			}
			return errors.Join(errs...)
		},
	})
	return h, nil
}

// openWorkerPool opens serve's second Postgres pool, for worker traffic
// only: the store is migrated already, and cancels reach workers through
// the main store's LISTEN, so it neither migrates nor listens. Its one
// schema-version query is its start-up connection test: a pool that cannot
// connect fails serve at once, naming CODECHECK_DB_WORKER_CONNS.
func openWorkerPool(ctx context.Context, su storeURL, cfg config, log *slog.Logger) (openedStore, error) {
	s, err := postgres.Open(ctx, su.URL, postgres.WithLogger(log.With("pool", "workers")), postgres.WithPooler(cfg.DBPooler),
		postgres.WithMaxConns(int32(cfg.DBWorkerConns)), postgres.WithSchema(cfg.DBSchema),
		postgres.WithoutListen(), postgres.WithoutMigrations())
	if err != nil {
		return nil, usagef("%s: cannot open the workers' Postgres pool at %s: %w", envDBWorkerConns.Name, redactURL(su.URL), err)
	}
	return s, nil
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
