package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// capReport is what the cost-cap tests read of a report.
type capReport struct {
	Job struct {
		ID         string   `json:"id"`
		Status     string   `json:"status"`
		Error      string   `json:"error"`
		MaxCostUSD *float64 `json:"max_cost_usd"`
		CostCapped bool     `json:"cost_capped"`
	} `json:"job"`
	Sections []struct {
		Key    string `json:"key"`
		Status string `json:"status"`
		Error  string `json:"error"`
		Usage  struct {
			CostUSD *float64 `json:"cost_usd"`
		} `json:"usage"`
	} `json:"sections"`
	Usage struct {
		CostUSD *float64 `json:"cost_usd"`
	} `json:"usage"`
}

// capEnv prices every fake call at $0.01 through CODECHECK_PRICES, runs
// sections one at a time so the cap lands at a known call, and logs calls.
func capEnv(t *testing.T) (env []string, callLog string) {
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.json")
	require.NoError(t, os.WriteFile(prices, []byte(`[{"provider":"fake","model":"*","per_request":0.01}]`), 0o644))
	callLog = filepath.Join(dir, "calls.log")
	return baseEnv(t, "DATABASE_URL=sqlite:"+filepath.Join(dir, "codecheck.db"), "CODECHECK_FAKE_LLM_LATENCY=0",
		"CODECHECK_PRICES="+prices, "CODECHECK_SECTION_CONCURRENCY=1", "CODECHECK_FAKE_LLM_LOG="+callLog), callLog
}

func reportOf(t *testing.T, env []string, id string) capReport {
	t.Helper()
	r := run(t, env, "report", "--format", "json", "--job-id", id)
	require.Equal(t, 0, r.code, r.stderr)
	var rep capReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	return rep
}

// TestCostCapStopsCallingAndRetryWithAHigherCapFinishes: at $0.01 a call, a
// $0.035 cap pays for three calls. The other two sections end skipped with
// the reason, the essential three are done, so the job completes flagged
// cost_capped; `retry --max-cost-usd 1` and `work` run only the two skipped
// sections, and nothing is researched twice.
func TestCostCapStopsCallingAndRetryWithAHigherCapFinishes(t *testing.T) {
	env, callLog := capEnv(t)
	r := run(t, env, "check", "--provider", "fake", "--format", "json", "--max-cost-usd", "0.035",
		"--sections", "adopted_codes,zoning_use,parking_access,energy_code", testAddress)
	require.Equal(t, 0, r.code, r.stderr)
	id := checkJobID(r.stderr)
	require.NotEmpty(t, id, r.stderr)
	rep := reportOf(t, env, id)
	require.Equal(t, "completed", rep.Job.Status)
	require.True(t, rep.Job.CostCapped)
	require.InDelta(t, 0.035, *rep.Job.MaxCostUSD, 1e-9)
	skipped := 0
	for _, s := range rep.Sections {
		if s.Status == "skipped" {
			skipped++
			require.Contains(t, s.Error, "cost cap reached", s.Key)
		}
	}
	require.Equal(t, 2, skipped)
	require.NotNil(t, rep.Usage.CostUSD)
	require.InDelta(t, 0.03, *rep.Usage.CostUSD, 1e-9, "three calls at the price file's $0.01")
	require.Len(t, fakeCalls(t, callLog)[id], 3, "no call past the cap")

	r = run(t, env, "retry", "--max-cost-usd", "1", id)
	require.Equal(t, 0, r.code, r.stderr)
	r = run(t, append(env, "CODECHECK_FAKE_LLM=1"), "work", "--job-id", id)
	require.Equal(t, 0, r.code, r.stderr)
	rep = reportOf(t, env, id)
	require.Equal(t, "completed", rep.Job.Status)
	require.False(t, rep.Job.CostCapped)
	calls := fakeCalls(t, callLog)[id]
	require.Len(t, calls, 5, "the retry ran only the two skipped sections")
	seen := map[string]bool{}
	for _, key := range calls {
		require.False(t, seen[key], "%s researched twice", key)
		seen[key] = true
	}
}

// TestCostCapBeforeEssentialSectionsFails: a cap that pays for the
// jurisdiction alone leaves an essential section skipped: the job fails,
// saying why and what to do.
func TestCostCapBeforeEssentialSectionsFails(t *testing.T) {
	env, callLog := capEnv(t)
	r := run(t, env, "check", "--provider", "fake", "--max-cost-usd", "0.015", "--sections", "adopted_codes,zoning_use", testAddress)
	require.NotEqual(t, 0, r.code, r.stderr)
	id := checkJobID(r.stderr)
	rep := reportOf(t, env, id)
	require.Equal(t, "failed", rep.Job.Status)
	require.Contains(t, rep.Job.Error, "cost cap reached")
	require.Contains(t, rep.Job.Error, "max_cost_usd")
	require.Len(t, fakeCalls(t, callLog)[id], 1)

	r = run(t, env, "check", "--provider", "fake", "--max-cost-usd", "0", testAddress)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "--max-cost-usd")
}

// A price file that does not parse is refused at start-up, naming the
// variable and the entry.
func TestPricesFileErrorsNameTheVariable(t *testing.T) {
	env, _ := capEnv(t)
	bad := filepath.Join(t.TempDir(), "prices.json")
	require.NoError(t, os.WriteFile(bad, []byte(`[{"provider":"fake"}]`), 0o644))
	r := run(t, append(env, "CODECHECK_PRICES="+bad), "check", "--provider", "fake", testAddress)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "CODECHECK_PRICES")
	require.Contains(t, r.stderr, "model is required")
}
