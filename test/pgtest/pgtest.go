// Package pgtest gives tests a private Postgres schema. URL returns a
// connection URL whose search_path is a freshly created schema, dropped when
// the test ends, so tests can run in parallel against one database.
//
// The server comes from CODECHECK_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). When it cannot
// be reached the test is skipped with a loud message, except under CI=true,
// where it fails: CI must not silently skip the Postgres tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is used when CODECHECK_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL returns the configured test server URL.
func BaseURL() string {
	if u := os.Getenv("CODECHECK_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates a new schema, registers its removal with t.Cleanup, and
// returns BaseURL with search_path set to it. Extra query parameters in
// BaseURL (e.g. default_query_exec_mode) are kept.
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		unreachable(t, base, err)
	}
	defer conn.Close(context.Background())

	schema := "test_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() { drop(t, base, schema) })

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: CODECHECK_TEST_DATABASE_URL must be a postgres:// URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// WithParam returns databaseURL with query parameter key set to value, e.g.
// default_query_exec_mode=simple_protocol.
func WithParam(t testing.TB, databaseURL, key, value string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func drop(t testing.TB, base, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
	}
}

func unreachable(t testing.TB, base string, err error) {
	t.Helper()
	redacted := base
	if u, perr := url.Parse(base); perr == nil {
		redacted = u.Redacted()
	}
	msg := "\n\n*** POSTGRES NOT REACHABLE at " + redacted + ": " + err.Error() +
		"\n*** Postgres tests did NOT run. Start Postgres or set CODECHECK_TEST_DATABASE_URL.\n"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Database creates a database of its own, dropped (with its connections)
// when the test ends, and returns BaseURL pointing at it. A test that goes
// through a transaction pooler needs one: such poolers refuse a search_path
// in the connection's start-up, so URL's private schema cannot reach them.
func Database(t testing.TB) string {
	t.Helper()
	base := BaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		unreachable(t, base, err)
	}
	defer conn.Close(context.Background())
	name := "test_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// DefaultPgBouncerURL is used when CODECHECK_TEST_PGBOUNCER_URL is unset:
// test/pgbouncer/start.sh's PgBouncer in transaction mode.
const DefaultPgBouncerURL = "postgres://postgres@127.0.0.1:6432/test?sslmode=disable"

// ThroughPgBouncer returns databaseURL (one of Database's) as reached
// through the test PgBouncer in transaction mode
// (CODECHECK_TEST_PGBOUNCER_URL). When it cannot be reached the test is
// skipped loudly, or fails under CI=true (.ci/run starts it).
func ThroughPgBouncer(t testing.TB, databaseURL string) string {
	t.Helper()
	bouncer := os.Getenv("CODECHECK_TEST_PGBOUNCER_URL")
	if bouncer == "" {
		bouncer = DefaultPgBouncerURL
	}
	b, err := url.Parse(bouncer)
	if err != nil {
		t.Fatalf("pgtest: CODECHECK_TEST_PGBOUNCER_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, bouncer+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		msg := "\n\n*** PGBOUNCER NOT REACHABLE at " + b.Redacted() + ": " + err.Error() +
			"\n*** Tests through a transaction pooler did NOT run. Run test/pgbouncer/start.sh or set CODECHECK_TEST_PGBOUNCER_URL.\n"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	conn.Close(context.Background())
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.Host = b.Host
	return u.String()
}
