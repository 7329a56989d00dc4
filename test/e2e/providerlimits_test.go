package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/pgtest"
	"github.com/codecheck/codecheck/test/providerfake"
)

// Three `codecheck worker` processes on one Postgres share one provider
// budget, CODECHECK_PROVIDER_RPM=60 for all of them, not 60 each: over the
// first 20 s the provider sees at most 20 calls plus the burst of 13. And
// when the provider answers one call 429 with Retry-After: 3, no process
// calls it for the next 3 s.
func TestFleetSharesOneProviderBudget(t *testing.T) {
	const (
		rpm        = 60
		burst      = 13 // one job's sections (README, Provider limits)
		window     = 20 * time.Second
		refuseCall = 20 // well past the burst: calls are a second apart by then
		retryAfter = 3 * time.Second
	)
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	store, err := postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	defer store.Close()
	// Six jobs of 13 calls: more than the budget allows in the test's time,
	// so every worker always has calls waiting.
	for range 6 {
		_, _, err := store.Create(ctx, domain.Job{ID: uuid.Must(uuid.NewV7()).String(),
			Address: checkAddress, Provider: string(providerfake.Perplexity), Sections: domain.SectionKeys()})
		require.NoError(t, err)
	}
	fake := startFake(t, providerfake.Perplexity, func(c providerfake.Call) providerfake.Reply {
		if c.N == refuseCall {
			return providerfake.Reply{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Message: "rate limit exceeded"}
		}
		return providerfake.Reply{}
	})

	env := baseEnv(t, append([]string{"DATABASE_URL=" + dbURL, fmt.Sprintf("CODECHECK_PROVIDER_RPM=%d", rpm),
		"CODECHECK_WORKERS=2", "CODECHECK_METRICS_ADDR=off", "CODECHECK_DRAIN_TIMEOUT=1s"},
		fake.Env(providerKey)...)...)
	dir := t.TempDir()
	for i := range 3 {
		startWorker(t, env, filepath.Join(dir, fmt.Sprintf("worker-%d.log", i)))
	}

	waitFor(t, "the first provider call", time.Minute, func() bool { return len(fake.Calls()) > 0 })
	first := fake.Calls()[0].Received
	// Calls are recorded as they arrive: once one arrived past the window,
	// the window is complete.
	waitFor(t, "a call past the first 20 s", window+30*time.Second, func() bool {
		calls := fake.Calls()
		return calls[len(calls)-1].Received.Sub(first) >= window
	})
	calls := fake.Calls()

	steady := int(window/time.Second) * rpm / 60 // 20
	inWindow := 0
	perSecond := make([]int, window/time.Second)
	for _, c := range calls {
		if at := c.Received.Sub(first); at < window {
			inWindow++
			perSecond[at/time.Second]++
		}
	}
	t.Logf("calls in the first %s: %d (at most %d + %d); per second: %v", window, inWindow, steady, burst, perSecond)
	require.LessOrEqual(t, inWindow, steady+burst, "the three workers share one budget")
	require.GreaterOrEqual(t, inWindow, steady, "the fleet kept the budget busy: the limit, not the work, held it back")

	refused := calls[refuseCall-1]
	require.Equal(t, http.StatusTooManyRequests, refused.Status)
	var next *providerfake.Call
	for i, c := range calls {
		if c.Received.After(refused.Answered) {
			next = &calls[i]
			break
		}
	}
	require.NotNil(t, next, "calls went on after the pause")
	gap := next.Received.Sub(refused.Answered)
	t.Logf("the 429 (call %d) was answered %s in; the next call arrived %s later (call %d)",
		refused.N, refused.Answered.Sub(first).Round(time.Millisecond), gap.Round(time.Millisecond), next.N)
	require.GreaterOrEqual(t, gap, retryAfter, "no process called during the pause")

	// All three workers took part.
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var workers int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(DISTINCT worker) FROM jobs WHERE worker <> ''`).Scan(&workers))
	require.Equal(t, 3, workers, "each worker process claimed jobs")
}

// `codecheck work` through the worker API, with no database, takes each
// provider call's slot from the server's store with one request, and
// reports the provider's Retry-After to it.
func TestWorkThroughWorkerAPIUsesTheServersBudget(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "codecheck.db")
	// serve has no Perplexity key: its own workers leave the job alone.
	srv := launchServe(t, "127.0.0.1", baseEnv(t, "DATABASE_URL=sqlite:"+dbPath, "CODECHECK_WORKER_SECRET="+workerSecret))
	st, err := sqlite.Open(t.Context(), dbPath)
	require.NoError(t, err)
	job, _, err := st.Create(t.Context(), domain.Job{ID: uuid.Must(uuid.NewV7()).String(), Address: checkAddress,
		Provider: string(providerfake.Perplexity), Sections: domain.SectionKeys()})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	fake := startFake(t, providerfake.Perplexity, func(c providerfake.Call) providerfake.Reply {
		if c.N == 1 {
			return providerfake.Reply{Status: http.StatusTooManyRequests, RetryAfter: time.Second, Message: "slow down"}
		}
		return providerfake.Reply{}
	})
	tokens, err := app.NewWorkerTokens(workerSecret, nil)
	require.NoError(t, err)
	env := baseEnv(t, append([]string{"CODECHECK_API_URL=" + srv.base, "CODECHECK_WORKER_TOKEN=" + tokens.Mint(job.ID, 10*time.Minute),
		"CODECHECK_PROVIDER_RPM=6000"}, fake.Env(providerKey)...)...)
	res := runIn(t, t.TempDir(), env, "work", "--job-id", job.ID)
	require.Equal(t, 0, res.code, "stdout: %s\nstderr: %s", res.stdout, res.stderr)
	require.Contains(t, res.stdout, "completed (13/13)")

	calls := fake.Calls()
	require.Len(t, calls, 14, "13 sections and the refused call's retry")
	require.GreaterOrEqual(t, calls[1].Received.Sub(calls[0].Answered), time.Second)
	requests := workerRequests(t, srv.base)
	t.Logf("worker API requests for the provider budget: %v", requests)
	require.Equal(t, len(calls), requests["POST /worker/jobs/{id}/providers/{provider}/calls"], "one request per provider call")
	require.Equal(t, 1, requests["POST /worker/jobs/{id}/providers/{provider}/pause"], "the 429 paused the provider in the server's store")
	require.Contains(t, res.stderr, "provider paused for every process")
}

// workerRequests counts, from serve's /metrics, the provider budget
// requests by method and route.
func workerRequests(t *testing.T, base string) map[string]int {
	t.Helper()
	resp, body := apiCall(t, http.MethodGet, base+"/metrics", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	line := regexp.MustCompile(`codecheck_http_requests_total\{code="200",method="(\w+)",route="([^"]*providers[^"]*)"\} (\d+)`)
	out := map[string]int{}
	for _, m := range line.FindAllStringSubmatch(string(body), -1) {
		n, err := strconv.Atoi(m[3])
		require.NoError(t, err)
		out[m[1]+" "+m[2]] += n
	}
	return out
}

// startWorker starts `codecheck worker` with env, logging to logPath; it is
// stopped with SIGTERM when the test ends, and its log shown if it failed.
func startWorker(t *testing.T, env []string, logPath string) {
	t.Helper()
	out, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(binary, "worker")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		out.Close()
		if b, _ := os.ReadFile(logPath); t.Failed() || strings.Contains(string(b), "level=ERROR") {
			t.Logf("---- %s ----\n%s", filepath.Base(logPath), b)
		}
	})
}
