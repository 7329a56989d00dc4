package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/pgtest"
)

// A fleet of `codecheck worker` processes with no `serve` anywhere recovers
// its own crashes: one worker is killed with SIGKILL while it holds jobs,
// and the others rescue and finish them.
func TestWorkerFleetRecoversAKilledWorkerWithoutServe(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	store, err := postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	defer store.Close()
	const jobs = 8
	ids := make([]string, jobs)
	for i := range ids {
		j, _, err := store.Create(ctx, domain.Job{ID: uuid.Must(uuid.NewV7()).String(), Address: "350 Fifth Ave, New York, NY 10118",
			Provider: "fake", Sections: domain.SectionKeys()})
		require.NoError(t, err)
		ids[i] = j.ID
	}

	dir := t.TempDir()
	env := baseEnv(t, "DATABASE_URL="+dbURL, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=200ms",
		"CODECHECK_SECTION_CONCURRENCY=2", "CODECHECK_WORKERS=2", "CODECHECK_LEASE=2s", "CODECHECK_METRICS_ADDR=off",
		"CODECHECK_DRAIN_TIMEOUT=2s")
	start := func(name string) *exec.Cmd {
		out, err := os.Create(filepath.Join(dir, name+".log"))
		require.NoError(t, err)
		cmd := exec.Command(binary, "worker")
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			out.Close()
			if t.Failed() {
				b, _ := os.ReadFile(out.Name())
				t.Logf("---- %s ----\n%s", name, b)
			}
		})
		return cmd
	}
	doomed := start("doomed")
	host, err := os.Hostname()
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	held := func() int {
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE status = 'processing' AND worker = $1`,
			fmt.Sprintf("%s/%d", host, doomed.Process.Pid)).Scan(&n))
		return n
	}
	waitFor(t, "the doomed worker to hold two jobs", time.Minute, func() bool { return held() == 2 })
	require.NoError(t, doomed.Process.Signal(syscall.SIGKILL))
	_ = doomed.Wait()
	start("survivor-1")
	start("survivor-2")

	for _, id := range ids {
		waitFor(t, "job "+id+" completed", 2*time.Minute, func() bool {
			j, err := store.Get(ctx, id)
			require.NoError(t, err)
			require.NotEqual(t, domain.JobFailed, j.Status, "job %s failed: %s", id, j.Error)
			return j.Status == domain.JobCompleted
		})
	}
	rescued := 0
	for _, id := range ids {
		j, err := store.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, "13/13", j.Progress())
		if j.Attempt == 2 {
			rescued++
		}
	}
	require.Equal(t, 2, rescued, "the two jobs the killed worker held were rescued and run again")
}
