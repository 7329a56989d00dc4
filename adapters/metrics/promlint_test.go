package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/domain"
)

// Every metric /metrics serves, each with samples, passes Prometheus's own
// linter (promlint, what `promtool check metrics` runs): names, units,
// _total on counters, help text.
func TestMetricsPassPromlint(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	feed(m)
	start := time.Now()
	end := start.Add(time.Second)
	m.SectionDone(domain.Job{}, domain.SectionResult{Key: "adopted_codes", Status: domain.SectionCompleted,
		ReusedFrom: "0195f0a0-6f3a-7c1e-9a4b-2f6d8e0c1a23", StartedAt: &start, FinishedAt: &end})
	m.WatchQueue(&lister{byStatus: map[domain.JobStatus]int{domain.JobPending: 2, domain.JobProcessing: 1}})
	text := scrape(t, m)

	problems, err := promlint.New(strings.NewReader(text)).Lint()
	require.NoError(t, err)
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{"codecheck_jobs_submitted_total", "codecheck_sections_reused_total", "codecheck_queue_depth",
		"codecheck_jobs", "codecheck_llm_cost_usd_total", "codecheck_http_request_duration_seconds"} {
		require.Contains(t, text, "\n# TYPE "+name+" ", "the lint saw %s", name)
	}
}

// The linter is live: it does report what the naming guide forbids.
func TestPromlintReportsBadNames(t *testing.T) {
	bad := "# HELP codecheck_requests Requests.\n# TYPE codecheck_requests counter\ncodecheck_requests 1\n" +
		"# TYPE codecheck_latency_ms gauge\ncodecheck_latency_ms 3\n"
	problems, err := promlint.New(strings.NewReader(bad)).Lint()
	require.NoError(t, err)
	var texts []string
	for _, p := range problems {
		texts = append(texts, p.Metric+": "+p.Text)
	}
	require.Contains(t, texts, `codecheck_requests: counter metrics should have "_total" suffix`)
	require.Contains(t, texts, "codecheck_latency_ms: no help text")
}
