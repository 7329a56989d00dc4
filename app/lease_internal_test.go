package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// runEndingStore ends the run (cancels the context the lease keeper was
// given) in the middle of each store call, as a job that finishes while
// its keeper reads does, and records whether the call's own context was
// canceled with it: a query canceled half-way costs Postgres its
// connection, which the pool then opens anew (the benchmark saw 135 new
// connections in a run of 1,000 jobs, and most of the database's CPU
// went to new backends parsing the statements again).
type runEndingStore struct {
	ports.WorkerStore
	endRun      context.CancelFunc
	interrupted []string
}

func (s *runEndingStore) call(ctx context.Context, name string) {
	s.endRun()
	if ctx.Err() != nil {
		s.interrupted = append(s.interrupted, name)
	}
}

func (s *runEndingStore) Get(ctx context.Context, id string) (domain.Job, error) {
	s.call(ctx, "Get")
	return domain.Job{ID: id, Status: domain.JobProcessing, Attempt: 1}, nil
}

func (s *runEndingStore) Heartbeat(ctx context.Context, _ ports.Lease, _ time.Duration) error {
	s.call(ctx, "Heartbeat")
	return nil
}

func TestLeaseKeeperCallsOutliveTheRun(t *testing.T) {
	ctx, endRun := context.WithCancel(context.Background())
	defer endRun()
	store := &runEndingStore{endRun: endRun}
	r := &run{w: &Worker{cfg: WorkerConfig{Store: store, Lease: time.Minute}, log: slog.Default()},
		job: domain.Job{ID: "j1", Attempt: 1}, lease: ports.Lease{JobID: "j1", Attempt: 1},
		cancel: func(error) {}}

	require.True(t, r.stillOurs(ctx))
	require.NoError(t, r.heartbeat(ctx))
	require.Empty(t, store.interrupted, "the keeper's store calls were canceled when the run ended")
}
