package sqlite

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/internal/broadcast"
	"github.com/codecheck/codecheck/adapters/store/internal/core"
	"github.com/codecheck/codecheck/adapters/store/internal/driver"
)

var update = flag.Bool("update", false, "write baseline.sql from the migrations")

// replaying is the engine with no baseline, so that Migrate applies every
// migration in turn.
type replaying struct{ *engine }

func (replaying) Dialect() driver.Dialect {
	d := dialect
	d.Baseline, d.AnyTable = "", ""
	return d
}

// schemaObject is one row of sqlite_master.
type schemaObject struct{ Type, Name, Table, SQL string }

// rowsOf runs query on the database at path and reads every row with scan.
func rowsOf[T any](t *testing.T, path, query string, scan func(driver.Rows) (T, error)) []T {
	t.Helper()
	e, err := openEngine(path)
	require.NoError(t, err)
	defer e.Close()
	rows, err := e.Query(t.Context(), query)
	require.NoError(t, err)
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		require.NoError(t, err)
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

// schemaOf lists the tables, indexes and triggers of the database at path,
// tables first, each kind in the order it was made: an order in which
// they can be made again.
func schemaOf(t *testing.T, path string) []schemaObject {
	t.Helper()
	return rowsOf(t, path, `SELECT type, name, tbl_name, sql FROM sqlite_master
		WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, rowid`,
		func(r driver.Rows) (o schemaObject, err error) { return o, r.Scan(&o.Type, &o.Name, &o.Table, &o.SQL) })
}

// migrationsOf lists the migrations recorded as applied in the database at
// path.
func migrationsOf(t *testing.T, path string) []string {
	t.Helper()
	return rowsOf(t, path, `SELECT version FROM schema_migrations ORDER BY version`,
		func(r driver.Rows) (v string, err error) { return v, r.Scan(&v) })
}

// script is the SQL that makes objs again.
func script(objs []schemaObject) string {
	var b strings.Builder
	b.WriteString("-- The schema every migration in adapters/store/internal/core/migrations\n")
	b.WriteString("-- leaves on SQLite, which a new database gets in one step. Generated: run\n")
	b.WriteString("-- go test ./adapters/store/sqlite -run Baseline -update after adding a migration.\n")
	for _, o := range objs {
		b.WriteString("\n" + o.SQL + ";\n")
	}
	return b.String()
}

// The baseline a new database gets is exactly the schema the migrations
// build one by one, with every migration recorded as applied, so a
// database made either way migrates the same from here on.
func TestBaselineIsTheMigrationsSchema(t *testing.T) {
	replayed := filepath.Join(t.TempDir(), "replayed.db")
	e, err := openEngine(replayed)
	require.NoError(t, err)
	s := core.New(replaying{e}, nil, broadcast.New())
	require.NoError(t, s.Migrate(t.Context()))
	require.NoError(t, s.Close())
	want := schemaOf(t, replayed)

	if *update {
		require.NoError(t, os.WriteFile("baseline.sql", []byte(script(want)), 0o644))
		t.Log("wrote baseline.sql")
		return
	}
	require.Equal(t, script(want), baseline,
		"baseline.sql is not the migrations' schema: go test ./adapters/store/sqlite -run Baseline -update")

	fresh := filepath.Join(t.TempDir(), "fresh.db")
	st, err := Open(t.Context(), fresh)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Equal(t, want, schemaOf(t, fresh), "a new database's schema")
	require.Equal(t, core.Migrations(), migrationsOf(t, fresh), "a new database records every migration")
	require.Equal(t, core.Migrations(), migrationsOf(t, replayed))
}

// A database migrated up to the migration before the last gets the last by
// migrating: given the baseline, its CREATE TABLEs would fail on the
// tables it has.
func TestBaselineNotForPartlyMigratedDatabases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "partial.db")
	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	versions := core.Migrations()
	last := versions[len(versions)-1]
	want := schemaOf(t, path)
	// Back to the schema before the last migration (0014: two indexes).
	e, err := openEngine(path)
	require.NoError(t, err)
	for _, stmt := range []string{`DROP INDEX jobs_awaiting_handoff`, `DROP INDEX jobs_handed_off`,
		`DELETE FROM schema_migrations WHERE version = '` + last + `'`} {
		_, err := e.Exec(t.Context(), stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, e.Close())
	require.Equal(t, versions[:len(versions)-1], migrationsOf(t, path))

	s, err = Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.Equal(t, versions, migrationsOf(t, path))
	require.Equal(t, want, schemaOf(t, path), "the last migration made its indexes again")
}

// A database that holds any table, even one only partly migrated, is left
// to the migrations: the baseline is for new files alone.
func TestBaselineOnlyForNewDatabases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "partial.db")
	e, err := openEngine(path)
	require.NoError(t, err)
	_, err = e.Exec(t.Context(), `CREATE TABLE unrelated (x integer)`)
	require.NoError(t, err)
	require.NoError(t, e.Close())

	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.Equal(t, core.Migrations(), migrationsOf(t, path))
	objs := schemaOf(t, path)
	require.Equal(t, "unrelated", objs[0].Name, "the table that was there stays first")
}
