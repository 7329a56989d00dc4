package core

import (
	"context"
	"regexp"
	"strings"
	"sync"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
)

// tableRef finds the tables the core's SQL names, where a table can stand:
// after FROM, INTO, UPDATE, JOIN, TABLE, REFERENCES, ON or EXISTS.
var tableRef = regexp.MustCompile(`(?i)\b(FROM|INTO|UPDATE|JOIN|TABLE|REFERENCES|ON|EXISTS)(\s+)(jobs|sections|events|webhook_deliveries|provider_limits|schema_migrations)\b`)

// qualified is a driver whose statements name their tables with a schema.
// Rewritten statements are kept: the core has a few dozen.
type qualified struct {
	driver.Driver
	prefix string // `"schema".`
	seen   sync.Map
}

func qualify(d driver.Driver, schema string) *qualified {
	return &qualified{Driver: d, prefix: quoteIdent(schema) + "."}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (q *qualified) sql(s string) string {
	if v, ok := q.seen.Load(s); ok {
		return v.(string)
	}
	out := tableRef.ReplaceAllString(s, "${1}${2}"+strings.ReplaceAll(q.prefix, "$", "$$")+"${3}")
	q.seen.Store(s, out)
	return out
}

func (q *qualified) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	return q.Driver.Exec(ctx, q.sql(s), args...)
}

func (q *qualified) Query(ctx context.Context, s string, args ...any) (driver.Rows, error) {
	return q.Driver.Query(ctx, q.sql(s), args...)
}

func (q *qualified) Write(ctx context.Context, fn func(driver.DB) error) error {
	return q.Driver.Write(ctx, func(tx driver.DB) error { return fn(qualifiedTx{tx, q}) })
}

type qualifiedTx struct {
	driver.DB
	q *qualified
}

func (t qualifiedTx) Exec(ctx context.Context, s string, args ...any) (int64, error) {
	return t.DB.Exec(ctx, t.q.sql(s), args...)
}

func (t qualifiedTx) Query(ctx context.Context, s string, args ...any) (driver.Rows, error) {
	return t.DB.Query(ctx, t.q.sql(s), args...)
}

// prepareSchema runs the dialect's PrepareSchema for the store's schema.
func (s *Store) prepareSchema(ctx context.Context, tx driver.DB) error {
	if s.sql.Schema == "" || s.sql.PrepareSchema == "" {
		return nil
	}
	stmt := strings.NewReplacer("{{schema}}", quoteIdent(s.sql.Schema),
		"{{name}}", strings.ReplaceAll(s.sql.Schema, "'", "''")).Replace(s.sql.PrepareSchema)
	if _, err := tx.Exec(ctx, stmt); err != nil {
		return s.sql.wrap(err, "migrate: schema %s", s.sql.Schema)
	}
	return nil
}
