package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, withKeys("first-key", "second-key"))
	body := map[string]any{"address": address}

	for name, header := range map[string]string{
		"no header":     "",
		"wrong key":     "Authorization: Bearer nope",
		"key prefix":    "Authorization: Bearer first",
		"wrong scheme":  "Authorization: Basic Zmlyc3Qta2V5",
		"key, no space": "Authorization: Bearerfirst-key",
	} {
		t.Run(name, func(t *testing.T) {
			var headers []string
			if header != "" {
				headers = append(headers, header)
			}
			for _, r := range []struct{ method, path string }{
				{http.MethodPost, "/jobs"}, {http.MethodGet, "/jobs"}, {http.MethodGet, "/jobs/x"},
				{http.MethodGet, "/jobs/x/report"}, {http.MethodGet, "/jobs/x/events"},
				{http.MethodPost, "/jobs/x/cancel"}, {http.MethodPost, "/jobs/x/retry"},
			} {
				res := e.do(r.method, r.path, body, headers...)
				p := res.problem(t, http.StatusUnauthorized)
				require.Contains(t, p.Detail, "Bearer")
				require.NotContains(t, string(res.body), "first-key")
				require.Equal(t, `Bearer realm="codecheck"`, res.Header.Get("WWW-Authenticate"))
			}
		})
	}

	e.key = "second-key"
	v := e.submit(body)
	e.key = "first-key"
	require.Equal(t, v.ID, e.getJob(v.ID).ID)

	e.key = ""
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json", "/openapi.yaml", "/docs"} {
		require.Equal(t, http.StatusOK, e.do(http.MethodGet, path, nil).StatusCode, path)
	}
}

func TestCheckListenSecurity(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080"} {
		require.NoError(t, httpapi.CheckListenSecurity(addr, nil, false), addr)
	}
	for _, addr := range []string{":8080", "0.0.0.0:8080", "192.168.1.5:8080", "[::]:8080"} {
		err := httpapi.CheckListenSecurity(addr, nil, false)
		require.ErrorContains(t, err, "CODECHECK_API_KEYS", addr)
		require.ErrorContains(t, err, "CODECHECK_INSECURE_NO_AUTH", addr)
		require.NoError(t, httpapi.CheckListenSecurity(addr, []string{"k"}, false))
		require.NoError(t, httpapi.CheckListenSecurity(addr, nil, true))
	}
	require.Error(t, httpapi.CheckListenSecurity(":8080", []string{" "}, false), "blank keys are no keys")
	require.Error(t, httpapi.CheckListenSecurity("nonsense", nil, false))
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t)
	res := e.do(http.MethodGet, "/healthz", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.JSONEq(t, `{"status":"ok","version":"test"}`, string(res.body))
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/readyz", nil).StatusCode)

	require.NoError(t, e.raw.Close()) // the store goes away
	p := e.do(http.MethodGet, "/readyz", nil).problem(t, http.StatusServiceUnavailable)
	require.Equal(t, "the job store is unavailable", p.Detail)
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/healthz", nil).StatusCode, "liveness does not depend on the store")
}

// leakyStore fails reads with an error whose text must not reach clients.
type leakyStore struct{ ports.JobStore }

var errSecret = errors.New("dial tcp 10.0.0.3:5432: password=hunter2 rejected")

func (leakyStore) Get(context.Context, string) (domain.Job, error) { return domain.Job{}, errSecret }

func TestUnknownErrorsAreGeneric(t *testing.T) {
	e := newEnv(t, withStore(func(s ports.JobStore) ports.JobStore { return leakyStore{s} }))
	v := e.submit(map[string]any{"address": address})
	res := e.do(http.MethodGet, "/jobs/"+v.ID, nil)
	p := res.problem(t, http.StatusInternalServerError)
	require.Equal(t, "internal server error", p.Detail)
	require.Empty(t, p.Errors)
	require.NotContains(t, string(res.body), "hunter2")
	require.NotContains(t, string(res.body), "10.0.0.3")
}

// The server counts submissions and requests and serves /metrics; the
// metrics adapter's own tests cover the worker's hooks.
func TestMetrics(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	e := newEnv(t, func(c *httpapi.Config, sc *app.ServiceConfig) {
		c.Metrics = m
		sc.Hooks = app.Hooks{JobDone: m.JobDone}
	})
	m.WatchQueue(e.store)
	a := e.submit(map[string]any{"address": address})
	e.submit(map[string]any{"address": address})
	b := e.submit(map[string]any{"address": address})
	e.claim(b.ID)
	e.do(http.MethodPost, "/jobs/"+a.ID+"/cancel", nil) // Service.Cancel calls JobDone

	res := e.do(http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	text := string(res.body)
	for _, want := range []string{
		`codecheck_jobs_submitted_total{provider="fake"} 3`,
		`codecheck_jobs{status="pending"} 1`,
		`codecheck_jobs{status="processing"} 1`,
		`codecheck_queue_depth 1`,
		`codecheck_jobs_finished_total{status="canceled"} 1`,
		`codecheck_http_requests_total{code="202",method="POST",route="/jobs"} 3`,
		`codecheck_http_requests_total{code="200",method="POST",route="/jobs/{id}/cancel"} 1`,
		`go_goroutines`,
	} {
		require.Contains(t, text, want)
	}
}

func TestSpecAndDocsServed(t *testing.T) {
	e := newEnv(t)
	res := e.do(http.MethodGet, "/openapi.yaml", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	want, err := httpapi.Spec(true)
	require.NoError(t, err)
	require.Equal(t, string(want), string(res.body))

	docs := e.do(http.MethodGet, "/docs", nil)
	require.Equal(t, http.StatusOK, docs.StatusCode)
	require.True(t, strings.Contains(string(docs.body), "/openapi"), "docs page loads the spec")
}

func TestUnknownRoutesAreProblems(t *testing.T) {
	e := newEnv(t)
	p := e.do(http.MethodGet, "/nope", nil).problem(t, http.StatusNotFound)
	require.Equal(t, "no such resource", p.Detail)
	res := e.do(http.MethodDelete, "/jobs", nil)
	res.problem(t, http.StatusMethodNotAllowed)
	require.Contains(t, res.Header.Get("Allow"), "POST")
}
