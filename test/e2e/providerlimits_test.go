package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/postgres"
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
