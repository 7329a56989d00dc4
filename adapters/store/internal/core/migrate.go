package core

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the versions of the embedded migrations, in order.
func Migrations() []string {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	versions := make([]string, len(names))
	for i, n := range names {
		versions[i] = strings.TrimSuffix(path.Base(n), ".sql")
	}
	slices.Sort(versions)
	return versions
}

// Migrate applies, in order and in one transaction, every migration not yet
// recorded in schema_migrations, written in the engine's types. Running it
// again is a no-op; the dialect's MigrationLock keeps two starting processes
// from migrating at once.
func (s *Store) Migrate(ctx context.Context) error {
	types := make([]string, 0, 2*len(s.sql.Types)+2)
	for placeholder, typ := range s.sql.Types {
		types = append(types, placeholder, typ)
	}
	// {{schema.}} qualifies a name the core's table rewriting does not
	// reach, an index's: the store's schema and a dot, or nothing.
	schema := ""
	if s.sql.Schema != "" {
		schema = quoteIdent(s.sql.Schema) + "."
	}
	types = append(types, "{{schema.}}", schema)
	render := strings.NewReplacer(types...)
	return s.db.Write(ctx, func(tx driver.DB) error {
		if s.sql.MigrationLock != "" {
			if _, err := tx.Exec(ctx, s.sql.MigrationLock); err != nil {
				return s.sql.wrap(err, "migrate: lock")
			}
		}
		if err := s.prepareSchema(ctx, tx); err != nil {
			return err
		}
		if s.sql.Baseline != "" {
			if done, err := s.applyBaseline(ctx, tx); done || err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, render.Replace(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version text PRIMARY KEY, applied_at {{time}} NOT NULL)`)); err != nil {
			return s.sql.wrap(err, "migrate")
		}
		for _, version := range Migrations() {
			if err := s.apply(ctx, tx, version, render); err != nil {
				return err
			}
		}
		return nil
	})
}

// applyBaseline gives a new database, one without a single table, the
// dialect's Baseline and records every migration as applied, all in the
// migration transaction tx. It reports whether it did; a database that
// holds anything is left to the migrations.
func (s *Store) applyBaseline(ctx context.Context, tx driver.DB) (bool, error) {
	tables, err := collect(ctx, tx, scanString, s.sql.AnyTable)
	if err != nil {
		return false, s.sql.wrap(err, "migrate: look for tables")
	}
	if len(tables) > 0 {
		return false, nil
	}
	if _, err := tx.Exec(ctx, s.sql.Baseline); err != nil { // no arguments: many statements
		return false, s.sql.wrap(err, "migrate: baseline")
	}
	for _, version := range Migrations() {
		if err := s.record(ctx, tx, version); err != nil {
			return false, err
		}
	}
	return true, nil
}

// record notes in schema_migrations that version is applied.
func (s *Store) record(ctx context.Context, tx driver.DB, version string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, s.now()); err != nil {
		return s.sql.wrap(err, "migrate %s", version)
	}
	return nil
}

// CheckSchema checks, without changing anything, that every embedded
// migration was applied: a process that does not own the schema (worker,
// work) refuses to run on a database that `codecheck migrate` (or `serve`)
// has not brought to this binary's version.
func (s *Store) CheckSchema(ctx context.Context) error {
	applied, err := collect(ctx, s.db, scanString, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("%s: no codecheck schema found (%w); run `codecheck migrate` or start `codecheck serve` first", s.sql.Name, err)
	}
	var missing []string
	for _, v := range Migrations() {
		if !slices.Contains(applied, v) {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: the database schema is behind this binary (missing migrations %s); run `codecheck migrate` or start `codecheck serve` with this version first",
			s.sql.Name, strings.Join(missing, ", "))
	}
	return nil
}

func (s *Store) apply(ctx context.Context, tx driver.DB, version string, render *strings.Replacer) error {
	done, err := collect(ctx, tx, scanString, `SELECT version FROM schema_migrations WHERE version = $1`, version)
	if err != nil || len(done) > 0 {
		return err
	}
	body, err := migrations.ReadFile("migrations/" + version + ".sql")
	if err != nil {
		return err
	}
	script := render.Replace(string(body))
	if hasStatement(script) { // a Postgres-only migration renders to comments elsewhere
		if _, err := tx.Exec(ctx, script); err != nil { // no arguments: may hold many statements
			return s.sql.wrap(err, "migrate %s", version)
		}
	}
	return s.record(ctx, tx, version)
}

// hasStatement reports whether script holds more than comments and blanks.
func hasStatement(script string) bool {
	for line := range strings.Lines(script) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return true
		}
	}
	return false
}
