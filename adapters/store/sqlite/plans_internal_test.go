package sqlite

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/internal/broadcast"
	"github.com/codecheck/codecheck/adapters/store/internal/core"
	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/storetest"
)

// explaining is the engine that, before each read of pending jobs, asks
// SQLite for its plan (on a reader, with the same arguments) and keeps it.
type explaining struct {
	*engine
	t     *testing.T
	mu    sync.Mutex
	plans map[string]string // query -> its plan, one step a line
}

func (e *explaining) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	e.explain(ctx, query, args)
	return e.engine.Query(ctx, query, args...)
}

func (e *explaining) Write(ctx context.Context, fn func(driver.DB) error) error {
	return e.engine.Write(ctx, func(tx driver.DB) error { return fn(explainingTx{tx, e}) })
}

type explainingTx struct {
	driver.DB
	e *explaining
}

func (x explainingTx) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	x.e.explain(ctx, query, args)
	return x.DB.Query(ctx, query, args...)
}

func (e *explaining) explain(ctx context.Context, query string, args []any) {
	if !strings.Contains(query, "status = 'pending'") {
		return
	}
	rows, err := e.engine.Query(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	require.NoError(e.t, err)
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int64
		var detail string
		require.NoError(e.t, rows.Scan(&id, &parent, &unused, &detail))
		steps = append(steps, detail)
	}
	require.NoError(e.t, rows.Err())
	e.mu.Lock()
	defer e.mu.Unlock()
	e.plans[strings.Join(strings.Fields(query), " ")] = strings.Join(steps, "\n")
}

// The dispatcher's reads of pending jobs each take the partial index made
// for them (migration 0014), in its order: before it, every wake-up of
// every dispatcher walked all the pending jobs, those handed off and
// waiting for a worker too, through jobs_by_status_created.
func TestDispatcherReadsTakeTheirIndexes(t *testing.T) {
	e, err := openEngine(t.TempDir() + "/plans.db")
	require.NoError(t, err)
	x := &explaining{engine: e, t: t, plans: map[string]string{}}
	s := core.New(x, nil, broadcast.New())
	defer s.Close()
	require.NoError(t, s.Migrate(t.Context()))

	job, _, err := s.Create(t.Context(), storetest.NewJob())
	require.NoError(t, err)
	reserved, err := s.ReserveHandoffs(t.Context(), ports.ReserveHandoffs{Owner: "d", Hold: time.Minute})
	require.NoError(t, err)
	require.Len(t, reserved, 1)
	require.NoError(t, s.MarkDispatched(t.Context(), job.ID, 1, "fake", "ref"))
	_, err = s.RedispatchStale(t.Context(), ports.StaleHandoffs{Owner: "d", OlderThan: -time.Minute, Hold: time.Minute})
	require.NoError(t, err)

	want := map[string]string{
		"dispatched_attempt <= attempt": "jobs_awaiting_handoff",
		"dispatched_attempt > attempt":  "jobs_handed_off",
	}
	seen := map[string]int{}
	for query, plan := range x.plans {
		for cond, index := range want {
			if !strings.Contains(query, cond) {
				continue
			}
			seen[cond]++
			require.Contains(t, plan, "USING INDEX "+index, query)
			require.NotContains(t, plan, "TEMP B-TREE", "sorted by the index, not after: %s", query)
		}
	}
	require.Equal(t, map[string]int{"dispatched_attempt <= attempt": 2, "dispatched_attempt > attempt": 1}, seen,
		"the reads explained: %v", x.plans)
}
