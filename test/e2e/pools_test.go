package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/pgtest"
)

// serve on Postgres gives its workers a pool of their own
// (CODECHECK_DB_WORKER_CONNS, default 8) beside the API's, and the API
// still hears the workers' writes at once: a job's events reach an SSE
// client to the end. CODECHECK_DB_WORKER_CONNS=0 keeps one pool.
func TestServeGivesWorkersTheirOwnPool(t *testing.T) {
	url := pgtest.Database(t)
	env := baseEnv(t, "DATABASE_URL="+url, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=10ms",
		"CODECHECK_METRICS_ADDR=off", "CODECHECK_DRAIN_TIMEOUT=2s")

	srv := launchServe(t, "127.0.0.1", env)
	require.Contains(t, srv.output.String(), "pool=workers")
	require.Regexp(t, `pool=workers.*max_conns=8`, srv.output.String())
	job := submitAPIJob(t, srv.base)
	events := followEvents(t, srv.base, job.ID, "")
	require.NotEmpty(t, events)
	last := events[len(events)-1].data(t)
	require.Equal(t, "completed", last.Status, "the workers' pool saved it; the API's LISTEN heard it")
	require.Equal(t, "13/13", last.Progress)
	require.Equal(t, 0, srv.terminate(30*time.Second))

	one := launchServe(t, "127.0.0.1", append(env, "CODECHECK_DB_WORKER_CONNS=0"))
	require.NotContains(t, one.output.String(), "pool=workers")
	job = submitAPIJob(t, one.base)
	events = followEvents(t, one.base, job.ID, "")
	require.Equal(t, "completed", events[len(events)-1].data(t).Status)
	require.Equal(t, 0, one.terminate(30*time.Second))
}
