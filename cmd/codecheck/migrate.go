package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/fx"

	"github.com/codecheck/codecheck/ports"
)

func newMigrateCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations",
		Long: `migrate applies the database migrations to DATABASE_URL (serve and check also do it
when they start; worker, work and report only check the schema's version).`,
		Example:     "  DATABASE_URL=postgres://app@db:5432/codecheck codecheck migrate",
		Args:        noArgs,
		Annotations: map[string]string{envAnnotation: envList(storeEnv, logEnv), exitAnnotation: exitCodesSimple + "; or the database could not be reached"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := env.load(false); err != nil {
				return err
			}
			return runMigrate(cmd.Context(), env)
		},
	}
}

func runMigrate(ctx context.Context, env *environment) error {
	// Opening the store applies the migrations.
	var store ports.JobStore
	stop, err := startApp(ctx, env, quickStop, []fx.Option{storeModule(migrateStore)}, &store)
	if err != nil {
		return err
	}
	defer stop()
	if err := store.Ping(ctx); err != nil {
		return fmt.Errorf("%s: %w", envDatabaseURL.Name, err)
	}
	su, _ := parseStoreURL(env.cfg.DatabaseURL)
	fmt.Fprintf(env.stdout, "migrations applied to %s\n", redactURL(su.URL))
	return nil
}
