package main

import (
	"context"
	"fmt"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/ports"
)

type storeHandle struct {
	store   ports.JobStore
	changes ports.Changes
}

// openStore opens the store named by DATABASE_URL, applying migrations, and
// closes it when the app stops.
func openStore(lc fx.Lifecycle, cfg config, o storeOptions) (storeHandle, error) {
	su, err := parseStoreURL(cfg.DatabaseURL)
	if err != nil {
		return storeHandle{}, usageError{err}
	}
	ctx := context.Background()
	if su.Postgres {
		opts := []postgres.Option{postgres.WithListenURL(cfg.ListenDatabaseURL)}
		if o.maxConns > 0 {
			opts = append(opts, postgres.WithMaxConns(int32(o.maxConns)))
		}
		s, err := postgres.Open(ctx, su.URL, opts...)
		if err != nil {
			return storeHandle{}, fmt.Errorf("DATABASE_URL: cannot open Postgres at %s: %w", redactURL(su.URL), err)
		}
		lc.Append(fx.StopHook(s.Close))
		return storeHandle{s, s}, nil
	}
	s, err := sqlite.Open(ctx, su.SQLitePath)
	if err != nil {
		return storeHandle{}, fmt.Errorf("DATABASE_URL: cannot open SQLite database %s: %w", su.SQLitePath, err)
	}
	lc.Append(fx.StopHook(s.Close))
	return storeHandle{s, s}, nil
}
