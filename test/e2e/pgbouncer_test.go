package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/pgtest"
)

// serve, worker and work through a real PgBouncer in transaction mode, with
// nothing in the URL about protocols: CODECHECK_DB_POOLER=transaction is
// all a user sets. A job submitted to serve is followed over SSE to its end
// and reported; worker and work each run one more.
func TestServeWorkerAndWorkThroughPgBouncer(t *testing.T) {
	url := pgtest.ThroughPgBouncer(t, pgtest.Database(t))
	require.NotContains(t, url, "simple_protocol")
	env := baseEnv(t, "DATABASE_URL="+url, "CODECHECK_DB_POOLER=transaction", "CODECHECK_FAKE_LLM=1",
		"CODECHECK_FAKE_LLM_LATENCY=20ms", "CODECHECK_WORKERS=1", "CODECHECK_METRICS_ADDR=off", "CODECHECK_DRAIN_TIMEOUT=2s")

	migrated := run(t, env, "migrate")
	require.Equal(t, 0, migrated.code, migrated.stderr)

	// serve: submit, follow the stream to the end, read the report.
	srv := launchServe(t, "127.0.0.1", env)
	require.Contains(t, srv.output.String(), "pooler=transaction")
	require.NotContains(t, srv.output.String(), "pool=workers", "a store that polls keeps one pool: it hears its own writes at once")
	job := submitAPIJob(t, srv.base)
	events := followEvents(t, srv.base, job.ID, "")
	require.NotEmpty(t, events)
	last := events[len(events)-1].data(t)
	require.Equal(t, "completed", last.Status)
	require.Equal(t, "13/13", last.Progress)
	rep := getAPIReport(t, srv.base, job.ID)
	require.Len(t, rep.Sections, 13)
	require.Equal(t, 0, srv.terminate(30*time.Second))

	ctx := context.Background()
	store, err := postgres.Open(ctx, url, postgres.WithPooler(postgres.PoolerTransaction))
	require.NoError(t, err)
	defer store.Close()
	create := func() string {
		j, _, err := store.Create(ctx, domain.Job{ID: uuid.Must(uuid.NewV7()).String(), Address: testAddress,
			Provider: "fake", Sections: domain.SectionKeys()})
		require.NoError(t, err)
		return j.ID
	}
	completed := func(id string) bool {
		j, err := store.Get(ctx, id)
		require.NoError(t, err)
		return j.Status == domain.JobCompleted && j.Progress() == "13/13"
	}

	// worker: pulls a pending job.
	forWorker := create()
	out, err := os.Create(filepath.Join(t.TempDir(), "worker.log"))
	require.NoError(t, err)
	defer out.Close()
	w := exec.Command(binary, "worker")
	w.Env, w.Stdout, w.Stderr = env, out, out
	require.NoError(t, w.Start())
	waitFor(t, "the worker to complete its job", time.Minute, func() bool { return completed(forWorker) })
	require.NoError(t, w.Process.Signal(syscall.SIGTERM))
	require.NoError(t, w.Wait())
	logs, _ := os.ReadFile(out.Name())
	require.Contains(t, string(logs), "pooler=transaction")

	// work: runs one job by id and exits.
	forWork := create()
	res := run(t, env, "work", "--job-id", forWork)
	require.Equal(t, 0, res.code, res.stderr)
	require.True(t, completed(forWork))
	require.True(t, strings.Contains(res.stderr, "pooler=transaction") || strings.Contains(res.stdout, "pooler=transaction"))
}
