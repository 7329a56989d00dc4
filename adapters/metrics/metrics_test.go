package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(body)
}

// feed records what a worker and an API server would report.
func feed(m *metrics.Metrics) {
	cost := 0.002
	m.ProviderCall("fake", "ok", domain.Usage{InputTokens: 100, OutputTokens: 40, CostUSD: &cost}, 2*time.Second)
	m.ProviderCall("fake", "retryable_error", domain.Usage{}, time.Second)
	start := time.Now()
	end := start.Add(3 * time.Second)
	m.SectionDone(domain.Job{}, domain.SectionResult{Key: "zoning_use", Status: domain.SectionCompleted, StartedAt: &start, FinishedAt: &end})
	m.SectionDone(domain.Job{}, domain.SectionResult{Key: "jurisdiction", Status: domain.SectionCompleted, LatencyMS: 500})
	m.SectionDone(domain.Job{}, domain.SectionResult{Key: "energy_code", Status: domain.SectionFailed, LatencyMS: 100})
	m.JobDone(context.Background(), domain.Job{Status: domain.JobCompleted, StartedAt: &start, FinishedAt: &end})
	m.JobSubmitted("fake")
	m.ObserveRequest(http.MethodPost, "/jobs", http.StatusAccepted, 5*time.Millisecond)
}

func TestHooksFeedTheMetrics(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	feed(m)
	text := scrape(t, m)
	for _, want := range []string{
		`codecheck_jobs_submitted_total{provider="fake"} 1`,
		`codecheck_jobs_finished_total{status="completed"} 1`,
		`codecheck_job_duration_seconds_count{status="completed"} 1`,
		`codecheck_section_duration_seconds_sum{section="zoning_use",status="completed"} 3`,
		`codecheck_section_duration_seconds_sum{section="jurisdiction",status="completed"} 0.5`,
		`codecheck_llm_requests_total{outcome="ok",provider="fake"} 1`,
		`codecheck_llm_requests_total{outcome="retryable_error",provider="fake"} 1`,
		`codecheck_llm_request_duration_seconds_count{provider="fake"} 2`,
		`codecheck_llm_tokens_total{direction="input",provider="fake"} 100`,
		`codecheck_llm_tokens_total{direction="output",provider="fake"} 40`,
		`codecheck_llm_cost_usd_total{provider="fake"} 0.002`,
		`codecheck_http_requests_total{code="202",method="POST",route="/jobs"} 1`,
		`codecheck_http_request_duration_seconds_count{method="POST",route="/jobs"} 1`,
		`go_goroutines`,
	} {
		require.Contains(t, text, want)
	}
	require.NotContains(t, text, "codecheck_queue_depth", "no store to count from")
}

// lister serves fixed pages of jobs by status.
type lister struct {
	byStatus map[domain.JobStatus]int
	err      error
}

func (l lister) List(_ context.Context, f ports.ListFilter) (ports.JobPage, error) {
	if l.err != nil {
		return ports.JobPage{}, l.err
	}
	n := l.byStatus[f.Status]
	offset, _ := strconv.Atoi(f.Cursor) // the cursor is the offset
	page := ports.JobPage{Jobs: make([]domain.Job, min(f.Limit, n-offset))}
	if next := offset + len(page.Jobs); next < n {
		page.NextCursor = strconv.Itoa(next)
	}
	return page, nil
}

func TestQueueGaugesCountFromTheStoreAtScrapeTime(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	l := &lister{byStatus: map[domain.JobStatus]int{domain.JobPending: 250, domain.JobProcessing: 3}}
	m.WatchQueue(l)
	text := scrape(t, m)
	require.Contains(t, text, `codecheck_jobs{status="pending"} 250`)
	require.Contains(t, text, `codecheck_jobs{status="processing"} 3`)
	require.Contains(t, text, `codecheck_queue_depth 250`)

	l.byStatus[domain.JobPending] = 20_000
	require.Contains(t, scrape(t, m), `codecheck_queue_depth 10000`, "capped")

	l.err = errors.New("store down")
	text = scrape(t, m)
	require.NotContains(t, text, "codecheck_queue_depth")
	require.Contains(t, text, "go_goroutines", "the rest is still served")
}

func TestSummaryHasProviderAndSectionCounters(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	require.Empty(t, m.Summary(), "nothing counted yet")
	feed(m)
	got := map[string]string{}
	for _, a := range m.Summary() {
		got[a.Key] = a.Value.String()
	}
	require.Equal(t, map[string]string{
		"llm_calls.fake.ok":              "1",
		"llm_calls.fake.retryable_error": "1",
		"llm_tokens.fake.input":          "100",
		"llm_tokens.fake.output":         "40",
		"llm_cost_usd.fake":              "0.002",
		"sections.completed":             "2",
		"sections.failed":                "1",
	}, got)

	var line strings.Builder
	slog.New(slog.NewTextHandler(&line, nil)).LogAttrs(context.Background(), slog.LevelInfo, "summary", m.Summary()...)
	require.Equal(t, 1, strings.Count(line.String(), "\n"), "one line")
}

// counter is a lister that also counts: the gauges count, never page.
type counter struct {
	lister
	listed int
}

func (c *counter) List(ctx context.Context, f ports.ListFilter) (ports.JobPage, error) {
	c.listed++
	return c.lister.List(ctx, f)
}

func (c *counter) CountLive(_ context.Context, limit int) (map[domain.JobStatus]int, error) {
	return map[domain.JobStatus]int{domain.JobPending: min(c.byStatus[domain.JobPending], limit),
		domain.JobProcessing: min(c.byStatus[domain.JobProcessing], limit)}, nil
}

func TestQueueGaugesCountWithoutReadingJobs(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	c := &counter{lister: lister{byStatus: map[domain.JobStatus]int{domain.JobPending: 20_000, domain.JobProcessing: 7}}}
	m.WatchQueue(c)
	text := scrape(t, m)
	require.Contains(t, text, `codecheck_jobs{status="processing"} 7`)
	require.Contains(t, text, `codecheck_queue_depth 10000`, "capped")
	require.Zero(t, c.listed, "no job was read to count them")
}
