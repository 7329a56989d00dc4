// Package metrics is codecheck's Prometheus adapter: one registry with the
// job, section, provider and API metrics, fed through hook methods that cmd
// hands to the app (as app.Hooks) and to the HTTP adapter, and served by
// Handler. For a short-lived process, Summary gives the same counters as
// one log line instead.
//
// It only observes: it never changes jobs, and it reads the store only to
// count live jobs at scrape time. It must not import app (adapters do not
// drive the app; cmd connects the hooks).
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Metrics are codecheck's Prometheus metrics.
//
// Counters and histograms are fed by events: submissions and requests by the
// server, section and job ends and provider calls by the worker through
// the hook methods (ProviderCall, SectionDone, JobDone). Gauges of live state (jobs pending and processing, queue depth) are
// read from the store at scrape time, so they stay right across restarts and
// with several processes sharing one store; terminal statuses are counted by
// codecheck_jobs_finished_total instead, since those sets only grow.
type Metrics struct {
	gatherer prometheus.Gatherer
	// summarized holds the counters that Summary reports.
	summarized *prometheus.Registry

	jobsSubmitted    *prometheus.CounterVec
	jobsFinished     *prometheus.CounterVec
	jobDuration      *prometheus.HistogramVec
	sectionDuration  *prometheus.HistogramVec
	sectionsReused   *prometheus.CounterVec
	providerRequests *prometheus.CounterVec
	providerLatency  *prometheus.HistogramVec
	tokens           *prometheus.CounterVec
	cost             *prometheus.CounterVec
	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec

	queue *queueCollector
}

// New creates the metrics and registers them with reg, which is also
// what /metrics serves when it is a prometheus.Gatherer (a
// *prometheus.Registry is both); otherwise /metrics serves
// prometheus.DefaultGatherer. Go runtime and process collectors are added
// unless reg already has them. It panics if codecheck's metrics are already
// registered with reg.
func New(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	g, ok := reg.(prometheus.Gatherer)
	if !ok {
		g = prometheus.DefaultGatherer
	}
	m := &Metrics{gatherer: g, queue: newQueueCollector()}
	m.jobsSubmitted = counter(reg, "codecheck_jobs_submitted_total", "Jobs created through the API.", "provider")
	m.jobsFinished = counter(reg, "codecheck_jobs_finished_total", "Jobs that reached a terminal status in this process.", "status")
	m.jobDuration = histogram(reg, "codecheck_job_duration_seconds", "Time from a job's start to its terminal status.",
		[]float64{5, 15, 30, 60, 120, 180, 240, 300, 600}, "status")
	m.sectionDuration = histogram(reg, "codecheck_section_duration_seconds", "Time to research one section, retries included.",
		[]float64{1, 2.5, 5, 10, 20, 30, 60, 120, 300}, "section", "status")
	m.sectionsReused = counter(reg, "codecheck_sections_reused_total",
		"Sections taken from another job of the same jurisdiction instead of researched (no provider call).", "section")
	m.providerRequests = counter(reg, "codecheck_llm_requests_total",
		"LLM calls by provider and outcome (ok, retryable_error, permanent_error, invalid_output, canceled).", "provider", "outcome")
	m.providerLatency = histogram(reg, "codecheck_llm_request_duration_seconds", "Duration of one LLM call.",
		[]float64{0.5, 1, 2.5, 5, 10, 20, 30, 60, 120}, "provider")
	m.tokens = counter(reg, "codecheck_llm_tokens_total", "Tokens used, by provider and direction (input, output).", "provider", "direction")
	m.cost = counter(reg, "codecheck_llm_cost_usd_total", "Cost of provider calls in US dollars: the provider's own figure, else the price table's.", "provider")
	m.httpRequests = counter(reg, "codecheck_http_requests_total", "API requests by route and status code.", "method", "route", "code")
	m.httpDuration = histogram(reg, "codecheck_http_request_duration_seconds", "API request duration (event streams: their whole life).",
		prometheus.DefBuckets, "method", "route")
	reg.MustRegister(m.queue)
	m.summarized = prometheus.NewRegistry()
	m.summarized.MustRegister(m.providerRequests, m.tokens, m.cost, m.sectionDuration)
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			panic(err)
		}
	}
	return m
}

func counter(reg prometheus.Registerer, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	reg.MustRegister(c)
	return c
}

func histogram(reg prometheus.Registerer, name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	reg.MustRegister(h)
	return h
}

// Summary returns the provider and section counters of this process as log
// attributes, for a process too short-lived to be scraped:
// llm_calls.PROVIDER.OUTCOME, llm_tokens.PROVIDER.DIRECTION,
// llm_cost_usd.PROVIDER and sections.STATUS (sections of every key), each
// present once something was counted under it.
func (m *Metrics) Summary() []slog.Attr {
	families, err := m.summarized.Gather()
	if err != nil {
		return []slog.Attr{slog.String("metrics_error", err.Error())}
	}
	sections := map[string]uint64{}
	var attrs []slog.Attr
	for _, f := range families {
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() { // one case per metric registered in summarized
			case "codecheck_llm_requests_total":
				attrs = append(attrs, slog.Int64("llm_calls."+labels["provider"]+"."+labels["outcome"], int64(s.GetCounter().GetValue())))
			case "codecheck_llm_tokens_total":
				attrs = append(attrs, slog.Int64("llm_tokens."+labels["provider"]+"."+labels["direction"], int64(s.GetCounter().GetValue())))
			case "codecheck_llm_cost_usd_total":
				attrs = append(attrs, slog.Float64("llm_cost_usd."+labels["provider"], s.GetCounter().GetValue()))
			case "codecheck_section_duration_seconds":
				sections[labels["status"]] += s.GetHistogram().GetSampleCount()
			}
		}
	}
	for _, status := range slices.Sorted(maps.Keys(sections)) {
		attrs = append(attrs, slog.Int64("sections."+status, int64(sections[status])))
	}
	return attrs
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ProviderCall counts one LLM call, its latency, tokens and cost (the
// app.Hooks ProviderCall hook).
func (m *Metrics) ProviderCall(provider, outcome string, u domain.Usage, took time.Duration) {
	m.providerRequests.WithLabelValues(provider, outcome).Inc()
	m.providerLatency.WithLabelValues(provider).Observe(took.Seconds())
	m.tokens.WithLabelValues(provider, "input").Add(float64(u.InputTokens))
	m.tokens.WithLabelValues(provider, "output").Add(float64(u.OutputTokens))
	if u.CostUSD != nil && *u.CostUSD > 0 {
		m.cost.WithLabelValues(provider).Add(*u.CostUSD)
	}
}

// SectionDone records how long a finished section took (the app.Hooks
// SectionDone hook).
func (m *Metrics) SectionDone(_ domain.Job, s domain.SectionResult) {
	took := time.Duration(s.LatencyMS) * time.Millisecond
	if s.StartedAt != nil && s.FinishedAt != nil {
		took = s.FinishedAt.Sub(*s.StartedAt)
	}
	if s.ReusedFrom != "" && s.Status == domain.SectionCompleted {
		// Taken from another job in no time: counted, but kept out of
		// the duration of research.
		m.sectionsReused.WithLabelValues(s.Key).Inc()
		return
	}
	m.sectionDuration.WithLabelValues(s.Key, string(s.Status)).Observe(took.Seconds())
}

// JobDone counts a job that reached a terminal status and its duration (the
// app.Hooks JobDone hook).
func (m *Metrics) JobDone(_ context.Context, j domain.Job) {
	m.jobsFinished.WithLabelValues(string(j.Status)).Inc()
	if j.StartedAt != nil && j.FinishedAt != nil {
		m.jobDuration.WithLabelValues(string(j.Status)).Observe(j.FinishedAt.Sub(*j.StartedAt).Seconds())
	}
}

// JobSubmitted counts a job created through the API.
func (m *Metrics) JobSubmitted(provider string) { m.jobsSubmitted.WithLabelValues(provider).Inc() }

// ObserveRequest counts one API request by route and status and records its
// duration.
func (m *Metrics) ObserveRequest(method, route string, status int, took time.Duration) {
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(took.Seconds())
}

// WatchQueue makes the scrape-time gauges of live jobs (codecheck_jobs,
// codecheck_queue_depth) count through l; without it they are not reported.
func (m *Metrics) WatchQueue(l JobLister) { m.queue.lister.Store(&l) }

// JobLister lists jobs; ports.JobStore is one.
type JobLister interface {
	List(ctx context.Context, f ports.ListFilter) (ports.JobPage, error)
}

// LiveCounter counts the pending and processing jobs, each up to limit,
// without reading them; a JobLister that is one is counted that way.
type LiveCounter interface {
	CountLive(ctx context.Context, limit int) (map[domain.JobStatus]int, error)
}

// queueCollector counts live jobs at scrape time. Counting pages through
// List keeps the store port unchanged; it stops at maxCounted so a huge
// backlog cannot make a scrape slow (the gauge then reads maxCounted).
type queueCollector struct {
	lister atomic.Pointer[JobLister]
	jobs   *prometheus.Desc
	depth  *prometheus.Desc
}

const (
	maxCounted   = 10_000
	countTimeout = 2 * time.Second
)

func newQueueCollector() *queueCollector {
	return &queueCollector{
		jobs: prometheus.NewDesc("codecheck_jobs", "Jobs currently pending or processing (counted from the store at scrape time, capped at 10000).",
			[]string{"status"}, nil),
		depth: prometheus.NewDesc("codecheck_queue_depth", "Jobs waiting for a worker (pending).", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.depth
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	lp := c.lister.Load()
	if lp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
	defer cancel()
	var counted map[domain.JobStatus]int
	if lc, ok := (*lp).(LiveCounter); ok {
		var err error
		if counted, err = lc.CountLive(ctx, maxCounted); err != nil {
			ch <- prometheus.NewInvalidMetric(c.jobs, err)
			return
		}
	}
	for _, status := range []domain.JobStatus{domain.JobPending, domain.JobProcessing} {
		n, err := counted[status], error(nil)
		if counted == nil {
			n, err = countJobs(ctx, *lp, status)
		}
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.jobs, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), string(status))
		if status == domain.JobPending {
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
		}
	}
}

func countJobs(ctx context.Context, l JobLister, status domain.JobStatus) (int, error) {
	n, cursor := 0, ""
	for n < maxCounted {
		page, err := l.List(ctx, ports.ListFilter{Status: status, Limit: 100, Cursor: cursor})
		if err != nil {
			return 0, err
		}
		n += len(page.Jobs)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	return min(n, maxCounted), nil
}
