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

// schemaOf lists the tables, indexes and triggers of the database at path,
// tables first, each kind in the order it was made: an order in which
// they can be made again.
func schemaOf(t *testing.T, path string) []schemaObject {
	t.Helper()
	e, err := openEngine(path)
	require.NoError(t, err)
	defer e.Close()
	rows, err := e.Query(t.Context(), `SELECT type, name, tbl_name, sql FROM sqlite_master
		WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, rowid`)
	require.NoError(t, err)
	defer rows.Close()
	var objs []schemaObject
	for rows.Next() {
		var o schemaObject
		require.NoError(t, rows.Scan(&o.Type, &o.Name, &o.Table, &o.SQL))
		objs = append(objs, o)
	}
	require.NoError(t, rows.Err())
	return objs
}

// migrationsOf lists the migrations recorded as applied in the database at
// path.
func migrationsOf(t *testing.T, path string) []string {
	t.Helper()
	e, err := openEngine(path)
	require.NoError(t, err)
	defer e.Close()
	rows, err := e.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	require.NoError(t, err)
	defer rows.Close()
	var versions []string
	for rows.Next() {
		var v string
		require.NoError(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	require.NoError(t, rows.Err())
	return versions
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
