package e2e

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/pgtest"
)

// Production's shape: three serve replicas on one Postgres with the Modal
// executor, and work processes that reach their job through the worker API
// with the token their spawn carried, holding no database credentials. Each
// job is spawned exactly once, every job completes 13/13, and the
// database's connections stay within what the replicas' pools allow, however
// many containers run. CODECHECK_E2E_REPLICA_JOBS sets the job count
// (default 200).
func TestThreeReplicasSpawnEachJobOnceThroughTheWorkerAPI(t *testing.T) {
	jobs := 200
	if v, err := strconv.Atoi(os.Getenv("CODECHECK_E2E_REPLICA_JOBS")); err == nil && v > 0 {
		jobs = v
	}
	const replicas = 3
	peak, took := runFleet(t, replicas, jobs, true)
	// serve's API pool is 8 by default (CODECHECK_DB_MAX_CONNS), its
	// workers' pool 8 (CODECHECK_DB_WORKER_CONNS), plus one LISTEN
	// connection per replica.
	limit := int64(replicas * (8 + 8 + 1))
	t.Logf("%d jobs through %d replicas in %s; peak Postgres connections of the replicas: %d (pools allow %d); work processes hold none",
		jobs, replicas, took.Round(time.Millisecond), peak, limit)
	require.LessOrEqual(t, peak, limit)
}

// The connections in use during a run in each worker mode, for the
// sizing table: run with CODECHECK_E2E_MEASURE=1 (and
// CODECHECK_E2E_REPLICA_JOBS, default 100).
func TestMeasureConnectionsPerWorkerMode(t *testing.T) {
	if os.Getenv("CODECHECK_E2E_MEASURE") != "1" {
		t.Skip("a measurement, not a test: set CODECHECK_E2E_MEASURE=1")
	}
	jobs := 100
	if v, err := strconv.Atoi(os.Getenv("CODECHECK_E2E_REPLICA_JOBS")); err == nil && v > 0 {
		jobs = v
	}
	for _, api := range []bool{true, false} {
		t.Run(map[bool]string{true: "worker-api", false: "direct"}[api], func(t *testing.T) {
			peak, took := runFleet(t, 3, jobs, api)
			t.Logf("%d jobs, 3 replicas, worker API %v: peak connections %d, %s", jobs, api, peak, took.Round(time.Millisecond))
		})
	}
}

// runFleet runs jobs through replicas serve processes and their spawned
// work processes, checks each job was spawned once and completed, and
// returns the peak of the fleet's Postgres connections and the time taken.
func runFleet(t *testing.T, replicas, jobs int, workerAPI bool) (int64, time.Duration) {
	r := startModalRigWith(t, modalRigOptions{Replicas: replicas, WorkerAPI: workerAPI,
		Env: []string{"CODECHECK_FAKE_LLM_LATENCY=20ms", "CODECHECK_SECTION_CONCURRENCY=13", "CODECHECK_LEASE=10s"}})
	if workerAPI {
		for _, kv := range r.workEnv {
			require.False(t, strings.HasPrefix(kv, "DATABASE_URL="), "a work process has no database URL")
		}
	}

	peak := watchConnections(t, r.appName)
	start := time.Now()
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = r.submit().ID
	}
	for _, id := range ids {
		waitFor(t, "job "+id+" completed", 5*time.Minute, func() bool {
			var j modalJob
			r.call(http.MethodGet, "/jobs/"+id, nil, http.StatusOK, &j)
			require.NotEqual(t, "failed", j.Status, "job %s failed: %s", id, j.Error)
			return j.Status == "completed"
		})
	}
	took := time.Since(start)
	for _, id := range ids {
		j := r.job(id)
		require.Equal(t, "13/13", j.Progress)
		if workerAPI {
			require.Equal(t, 1, j.Attempt, "job %s ran once", id)
		}
	}

	spawned := map[any]int{}
	for _, sp := range r.fake.Spawns() {
		spawned[sp.Args[0]]++
		if workerAPI {
			require.NotEmpty(t, sp.Args[3], "every spawn carries a worker token")
		}
	}
	if workerAPI {
		require.Len(t, r.fake.Spawns(), jobs, "exactly one spawn per job across %d replicas", replicas)
	}
	require.Len(t, spawned, jobs)
	return peak.Load(), took
}

// watchConnections samples pg_stat_activity for connections named appName
// until the test ends, and returns the peak it saw.
func watchConnections(t *testing.T, appName string) *atomic.Int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := pgx.Connect(ctx, pgtest.BaseURL())
	require.NoError(t, err)
	var peak atomic.Int64
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; _ = conn.Close(context.Background()) })
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var n int64
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&n); err == nil && n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return &peak
}
