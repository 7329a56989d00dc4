package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

const workerSecret = "e2e-worker-secret-of-at-least-32-characters"

// createFakeJob writes a pending job of the fake provider straight into the
// SQLite database serve uses: serve has no fake provider (so its own
// workers leave the job alone) and would refuse it over POST /jobs.
func createFakeJob(t *testing.T, dbPath string) string {
	t.Helper()
	st, err := sqlite.Open(t.Context(), dbPath)
	require.NoError(t, err)
	defer st.Close()
	job, _, err := st.Create(t.Context(), domain.Job{ID: uuid.Must(uuid.NewV7()).String(), Address: testAddress,
		Provider: "fake", Sections: domain.SectionKeys()})
	require.NoError(t, err)
	return job.ID
}

// `codecheck work` with CODECHECK_API_URL and a worker token, and no
// database in its environment, runs a job of a `serve` on SQLite to the
// end through the worker API.
func TestWorkThroughWorkerAPI(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "codecheck.db")
	srv := launchServe(t, "127.0.0.1", baseEnv(t, "DATABASE_URL=sqlite:"+dbPath, "CODECHECK_WORKER_SECRET="+workerSecret))
	id := createFakeJob(t, dbPath)
	tokens, err := app.NewWorkerTokens(workerSecret, nil)
	require.NoError(t, err)
	token := tokens.Mint(id, 10*time.Minute)

	workDir := t.TempDir()
	env := baseEnv(t, "CODECHECK_API_URL="+srv.base, "CODECHECK_WORKER_TOKEN="+token,
		"CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=10ms")
	for _, kv := range env {
		require.False(t, strings.HasPrefix(kv, "DATABASE_URL="), "the worker has no database")
	}
	res := runIn(t, workDir, env, "work", "--job-id", id)
	require.Equal(t, 0, res.code, "stdout: %s\nstderr: %s", res.stdout, res.stderr)
	require.Contains(t, res.stdout, "completed (13/13)")

	got := getAPIJob(t, srv.base, id)
	require.Equal(t, "completed", got.Status)
	require.Equal(t, "13/13", got.Progress)
	for _, s := range getAPIReport(t, srv.base, id).Sections {
		require.Equal(t, "completed", s.Status, s.Key)
	}
	entries, err := os.ReadDir(workDir)
	require.NoError(t, err)
	require.Empty(t, entries, "the worker opened no database of its own")
	require.NotContains(t, res.stderr+res.stdout, token, "the token is never logged")
	require.NotContains(t, srv.output.String(), token, "the token is never logged")

	// Run again: the job is finished, and the worker says so.
	again := runIn(t, workDir, env, "work", "--job-id", id)
	require.Equal(t, 0, again.code, again.stderr)
	require.Contains(t, again.stdout, "already completed")

	// A token for another job is refused, and nothing is run.
	other := createFakeJob(t, dbPath)
	refused := runIn(t, workDir, env, "work", "--job-id", other)
	require.NotEqual(t, 0, refused.code)
	require.Equal(t, "pending", getAPIJob(t, srv.base, other).Status)
}

// Misconfiguration stops start-up with exit 2 and names the variable.
func TestWorkerAPIConfiguration(t *testing.T) {
	res := run(t, baseEnv(t, "CODECHECK_API_URL=http://127.0.0.1:1", "CODECHECK_FAKE_LLM=1"), "work", "--job-id", "x")
	require.Equal(t, 2, res.code, res.stderr)
	require.Contains(t, res.stderr, "CODECHECK_WORKER_TOKEN")

	res = run(t, baseEnv(t, "DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "c.db"),
		"CODECHECK_WORKER_SECRET=too-short"), "serve")
	require.Equal(t, 2, res.code, res.stderr)
	require.Contains(t, res.stderr, "CODECHECK_WORKER_SECRET")
	require.NotContains(t, res.stderr, "too-short", "the secret is not echoed")
}
