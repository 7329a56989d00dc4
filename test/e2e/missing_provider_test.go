package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

// Workers take only jobs they can run (issue 9, part 6): a job whose
// provider a process lacks stays pending, untouched, for a process that has
// it.

// openSQLite opens the database a codecheck process uses, for the test to
// look at the jobs directly.
func openSQLite(t *testing.T, dbPath string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), dbPath)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// requireOneLine checks that stderr is one line containing every part.
func requireOneLine(t *testing.T, stderr string, parts ...string) {
	t.Helper()
	require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
	for _, p := range parts {
		require.Contains(t, stderr, p)
	}
}

// `work --job-id` on a job whose provider is not configured exits 2 with
// one line naming the variable, and leaves the job exactly as it was: with
// the database directly and through the worker API.
func TestWorkLeavesAJobItsProviderIsMissingFor(t *testing.T) {
	t.Run("database", func(t *testing.T) {
		dbPath := filepath.Join(t.TempDir(), "codecheck.db")
		id := createFakeJob(t, dbPath)
		st := openSQLite(t, dbPath)
		before, err := st.Get(t.Context(), id)
		require.NoError(t, err)
		eventsBefore, err := st.Events(t.Context(), id, 0, 0)
		require.NoError(t, err)

		res := run(t, baseEnv(t, "DATABASE_URL=sqlite:"+dbPath), "work", "--job-id", id)
		require.Equal(t, 2, res.code, "stdout: %s\nstderr: %s", res.stdout, res.stderr)
		requireOneLine(t, res.stderr, `job `+id+` uses provider "fake", which is not configured here: set CODECHECK_FAKE_LLM=1`)
		require.Empty(t, res.stdout)

		after, err := st.Get(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, before, after, "the job is exactly as it was")
		require.Equal(t, domain.JobPending, after.Status)
		require.Zero(t, after.Attempt)
		eventsAfter, err := st.Events(t.Context(), id, 0, 0)
		require.NoError(t, err)
		require.Equal(t, eventsBefore, eventsAfter, "no claim, no release")
	})

	t.Run("worker API", func(t *testing.T) {
		dbPath := filepath.Join(t.TempDir(), "codecheck.db")
		srv := launchServe(t, "127.0.0.1", baseEnv(t, "DATABASE_URL=sqlite:"+dbPath, "CODECHECK_WORKER_SECRET="+workerSecret))
		id := createFakeJob(t, dbPath)
		tokens, err := app.NewWorkerTokens(workerSecret, nil)
		require.NoError(t, err)
		env := baseEnv(t, "CODECHECK_API_URL="+srv.base, "CODECHECK_WORKER_TOKEN="+tokens.Mint(id, 10*time.Minute))

		res := runIn(t, t.TempDir(), env, "work", "--job-id", id)
		require.Equal(t, 2, res.code, "stdout: %s\nstderr: %s", res.stdout, res.stderr)
		requireOneLine(t, res.stderr, `job `+id+` uses provider "fake", which is not configured here: set CODECHECK_FAKE_LLM=1`)

		got := getAPIJob(t, srv.base, id)
		require.Equal(t, "pending", got.Status)
		require.Zero(t, got.Attempt)
		events, err := openSQLite(t, dbPath).Events(t.Context(), id, 0, 0)
		require.NoError(t, err)
		for _, e := range events {
			require.Equal(t, "pending", e.Status, "never claimed: %+v", e)
		}
	})
}

// A `serve` with no provider warns at start-up and leaves a `fake` job
// pending (its hand-offs to its own workers would otherwise count towards
// failing the job: here one hand-off of one second would fail it); a
// `worker` with the fake provider then runs it.
func TestServeWithoutProviderLeavesJobsPending(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "codecheck.db")
	srv := launchServe(t, "127.0.0.1", baseEnv(t, "DATABASE_URL=sqlite:"+dbPath,
		"CODECHECK_HANDOFF_TIMEOUT=1s", "CODECHECK_MAX_ATTEMPTS=1"))
	log := srv.output.String()
	require.Contains(t, log, "no LLM provider is configured")
	require.Contains(t, log, "pending jobs wait for a worker that has their provider")
	require.Contains(t, log, "one of PERPLEXITY_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY or CODECHECK_FAKE_LLM=1")

	id := createFakeJob(t, dbPath)
	st := openSQLite(t, dbPath)
	waitFor(t, "the dispatcher to decline the job", 30*time.Second, func() bool {
		j, err := st.Get(t.Context(), id)
		require.NoError(t, err)
		return strings.Contains(j.DispatchError, `set CODECHECK_FAKE_LLM=1`)
	})
	// Well past a hand-off timeout and a few dispatcher intervals, the job
	// is still pending and was never claimed.
	for end := time.Now().Add(3500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		got := getAPIJob(t, srv.base, id)
		require.Equal(t, "pending", got.Status, got.Error)
		require.Zero(t, got.Attempt)
	}
	events, err := st.Events(t.Context(), id, 0, 0)
	require.NoError(t, err)
	for _, e := range events {
		require.Equal(t, "pending", e.Status, "never claimed: %+v", e)
	}

	worker := exec.Command(binary, "worker")
	worker.Env = baseEnv(t, "DATABASE_URL=sqlite:"+dbPath, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=10ms",
		"CODECHECK_METRICS_ADDR=off")
	out := &syncBuffer{}
	worker.Stdout, worker.Stderr = out, out
	require.NoError(t, worker.Start())
	defer func() {
		_ = worker.Process.Signal(syscall.SIGTERM)
		_ = worker.Wait()
		if t.Failed() {
			t.Logf("codecheck worker output:\n%s", out.String())
		}
	}()
	waitFor(t, "the worker to complete the job", time.Minute, func() bool {
		return getAPIJob(t, srv.base, id).Status == "completed"
	})
	got := getAPIJob(t, srv.base, id)
	require.Equal(t, "13/13", got.Progress)
	require.Equal(t, 1, got.Attempt, "only the worker with the provider claimed it")
	require.NotContains(t, out.String(), "no LLM provider is configured")
}

// The resume command `check` prints after Ctrl-C works as printed, in a
// shell that has neither the fake provider nor check's DATABASE_URL.
func TestCheckResumeCommandWorksAsPrinted(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "check.db")
	st := openSQLite(t, dbPath)
	cmd := exec.Command(binary, "check", "--provider", "fake", "--sections", "zoning_use", testAddress)
	cmd.Env = baseEnv(t, "DATABASE_URL=sqlite:"+dbPath, "CODECHECK_FAKE_LLM_LATENCY=1m")
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()

	var id string
	waitFor(t, "check to start the job", 30*time.Second, func() bool {
		if id = checkJobID(stderr.String()); id == "" {
			return false
		}
		j, err := st.Get(t.Context(), id)
		return err == nil && j.Status == domain.JobProcessing
	})
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	require.Equal(t, 3, ee.ExitCode(), stderr.String())

	m := regexp.MustCompile(`resume it with: (.+)`).FindStringSubmatch(stderr.String())
	require.NotNil(t, m, stderr.String())
	printed := m[1]
	require.Contains(t, printed, "CODECHECK_FAKE_LLM=1")
	require.Contains(t, printed, "DATABASE_URL=sqlite:"+dbPath)
	released, err := st.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, released.Status)

	// A fresh shell in another directory: the binary on PATH, nothing else.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resume := exec.CommandContext(ctx, "sh", "-c", printed)
	resume.Dir = t.TempDir()
	resume.Env = []string{"PATH=" + filepath.Dir(binary) + ":/usr/bin:/bin", "HOME=" + t.TempDir()}
	out, err := resume.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "job "+id+" completed (2/2)")

	final, err := st.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, final.Status)
	require.Equal(t, 2, final.Attempt, "check's attempt, then the resumed one")
}
