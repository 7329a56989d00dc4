package httpapi_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/storetest"
)

const workerSecret = "a-worker-secret-of-at-least-32-characters"

// workerEnv is an API with the worker routes, logging into a buffer.
type workerEnv struct {
	*env
	tokens *app.WorkerTokens
	clock  *storetest.FakeClock
	logs   *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newWorkerEnv(t *testing.T, opts ...option) *workerEnv {
	t.Helper()
	clock := storetest.NewFakeClock(time.Now())
	tokens, err := app.NewWorkerTokens(workerSecret, clock.Now)
	require.NoError(t, err)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append(opts, func(c *httpapi.Config, sc *app.ServiceConfig) {
		c.WorkerTokens, c.WorkerStore, c.Logger, sc.Logger = tokens, sc.Store, logger, logger
	})
	return &workerEnv{env: newEnv(t, opts...), tokens: tokens, clock: clock, logs: logs}
}

// workerProblem is a problem document with its type.
type workerProblem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func (r response) workerProblem(t *testing.T, status int) workerProblem {
	t.Helper()
	require.Equal(t, status, r.StatusCode, "body: %s", r.body)
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	var p workerProblem
	r.json(t, &p)
	return p
}

func bearer(token string) string { return "Authorization: Bearer " + token }

func claimBody() map[string]any { return map[string]any{"worker": "w1", "lease_ms": 60000} }

func sectionBody(attempt int, key string) map[string]any {
	spec, _ := domain.LookupSection(key)
	s := domain.NewSectionResult(spec)
	s.Status = domain.SectionCompleted
	s.Summary = "saved over the worker API"
	return map[string]any{"attempt": attempt, "section": s}
}

// requireUntouched asserts that the job was never claimed or written.
func (e *workerEnv) requireUntouched(id string) {
	e.t.Helper()
	job, err := e.store.Get(e.t.Context(), id)
	require.NoError(e.t, err)
	require.Equal(e.t, domain.JobPending, job.Status)
	require.Zero(e.t, job.Attempt)
	sections, err := e.store.Sections(e.t.Context(), id)
	require.NoError(e.t, err)
	require.Empty(e.t, sections)
}

func TestWorkerRoutesOnlyWithTokens(t *testing.T) {
	// Without worker tokens the routes answer like unknown ones, whatever
	// the credential.
	e := newEnv(t)
	id := e.submit(map[string]any{"address": address}).ID
	res := e.do(http.MethodPost, "/worker/jobs/"+id+"/claim", claimBody(), bearer("cwt1.x.1.y"))
	p := res.problem(t, http.StatusNotFound)
	require.Equal(t, "no such resource", p.Detail)
	job, err := e.store.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, job.Status)
}

func TestWorkerTokenScope(t *testing.T) {
	e := newWorkerEnv(t)
	a := e.submit(map[string]any{"address": address}).ID
	b := e.submit(map[string]any{"address": address}).ID
	tokenA := e.tokens.Mint(a, time.Hour)
	tokenB := e.tokens.Mint(b, time.Hour)
	expired := e.tokens.Mint(a, time.Minute)
	e.clock.Advance(2 * time.Minute)
	// The expired token made to live longer, its signature kept.
	parts := strings.Split(expired, ".")
	parts[2] += "0"
	tampered := strings.Join(parts, ".")
	otherSecret, err := app.NewWorkerTokens(strings.Repeat("x", app.MinWorkerSecretLen), e.clock.Now)
	require.NoError(t, err)
	forged := otherSecret.Mint(a, time.Hour)

	requests := map[string]func(headers ...string) response{
		"get": func(h ...string) response { return e.do(http.MethodGet, "/worker/jobs/"+a, nil, h...) },
		"claim": func(h ...string) response {
			return e.do(http.MethodPost, "/worker/jobs/"+a+"/claim", claimBody(), h...)
		},
		"sections": func(h ...string) response { return e.do(http.MethodGet, "/worker/jobs/"+a+"/sections", nil, h...) },
		"heartbeat": func(h ...string) response {
			return e.do(http.MethodPost, "/worker/jobs/"+a+"/heartbeat", map[string]any{"attempt": 1, "lease_ms": 1000}, h...)
		},
		"save": func(h ...string) response {
			return e.do(http.MethodPut, "/worker/jobs/"+a+"/sections/zoning_use", sectionBody(1, "zoning_use"), h...)
		},
		"finish": func(h ...string) response {
			return e.do(http.MethodPost, "/worker/jobs/"+a+"/finish", map[string]any{"attempt": 1, "status": "completed"}, h...)
		},
		"release": func(h ...string) response {
			return e.do(http.MethodPost, "/worker/jobs/"+a+"/release", map[string]any{"attempt": 1}, h...)
		},
		"take call": func(h ...string) response {
			return e.do(http.MethodPost, "/worker/jobs/"+a+"/providers/perplexity/calls", map[string]any{"per_minute": 1, "burst": 1}, h...)
		},
		"pause": func(h ...string) response {
			return e.do(http.MethodPost, "/worker/jobs/"+a+"/providers/perplexity/pause", map[string]any{"pause_ms": 60000}, h...)
		},
		"paused": func(h ...string) response {
			return e.do(http.MethodGet, "/worker/jobs/"+a+"/providers/perplexity/pause", nil, h...)
		},
	}
	credentials := []struct {
		name    string
		headers []string
		status  int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"not bearer", []string{"Authorization: Basic " + tokenA}, http.StatusUnauthorized},
		{"garbage", []string{bearer("garbage")}, http.StatusUnauthorized},
		{"tampered", []string{bearer(tampered)}, http.StatusUnauthorized},
		{"another secret", []string{bearer(forged)}, http.StatusUnauthorized},
		{"expired", []string{bearer(expired)}, http.StatusUnauthorized},
		{"another job's", []string{bearer(tokenB)}, http.StatusForbidden},
	}
	for _, c := range credentials {
		for name, send := range requests {
			res := send(c.headers...)
			p := res.workerProblem(t, c.status)
			require.NotEmpty(t, p.Detail, "%s %s", c.name, name)
			if c.status == http.StatusUnauthorized {
				require.Contains(t, res.Header.Get("WWW-Authenticate"), "Bearer", "%s %s", c.name, name)
			}
			for _, tok := range []string{tokenA, tokenB, tampered, expired, forged} {
				require.NotContains(t, string(res.body), tok, "%s %s: a token in the answer", c.name, name)
			}
		}
		e.requireUntouched(a)
	}
	e.requireBudgetUntouched()

	// B's token works for B, never lists jobs, and is not an API key.
	res := e.do(http.MethodPost, "/worker/jobs/"+b+"/claim", claimBody(), bearer(tokenB))
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	e.requireUntouched(a)
	for _, tok := range []string{tokenA, tokenB, tampered, expired, forged} {
		require.NotContains(t, e.logs.String(), tok, "a token in the logs")
	}
}

func TestWorkerTokenIsNotAnAPIKey(t *testing.T) {
	e := newWorkerEnv(t, withKeys("the-api-key"))
	e.key = "the-api-key"
	id := e.submit(map[string]any{"address": address}).ID
	token := e.tokens.Mint(id, time.Hour)

	e.key = ""
	res := e.do(http.MethodGet, "/worker/jobs/"+id, nil, bearer(token))
	require.Equal(t, http.StatusOK, res.StatusCode, "the worker routes take the token, not an API key: %s", res.body)
	for _, path := range []string{"/jobs", "/jobs/" + id} {
		e.do(http.MethodGet, path, nil, bearer(token)).problem(t, http.StatusUnauthorized)
	}
	e.do(http.MethodGet, "/worker/jobs/"+id, nil, bearer("the-api-key")).workerProblem(t, http.StatusUnauthorized)
}

func TestWorkerLifecycleOverHTTP(t *testing.T) {
	e := newWorkerEnv(t)
	id := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}}).ID
	auth := bearer(e.tokens.Mint(id, time.Hour))

	res := e.do(http.MethodPost, "/worker/jobs/"+id+"/claim", claimBody(), auth)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	var job struct {
		ID       string   `json:"id"`
		Status   string   `json:"status"`
		Attempt  int      `json:"attempt"`
		Sections []string `json:"sections"`
		Done     int      `json:"done"`
	}
	res.json(t, &job)
	require.Equal(t, "processing", job.Status)
	require.Equal(t, 1, job.Attempt)
	require.Equal(t, []string{"jurisdiction", "zoning_use"}, job.Sections)
	require.NotContains(t, string(res.body), "webhook_url")

	p := e.do(http.MethodPost, "/worker/jobs/"+id+"/claim", claimBody(), auth).workerProblem(t, http.StatusConflict)
	require.Equal(t, httpapi.ProblemLeaseHeld, p.Type)

	res = e.do(http.MethodPost, "/worker/jobs/"+id+"/heartbeat", map[string]any{"attempt": 1, "lease_ms": 60000}, auth)
	require.Equal(t, http.StatusNoContent, res.StatusCode, "body: %s", res.body)
	res = e.do(http.MethodPut, "/worker/jobs/"+id+"/sections/zoning_use", sectionBody(1, "zoning_use"), auth)
	require.Equal(t, http.StatusNoContent, res.StatusCode, "body: %s", res.body)
	e.do(http.MethodPut, "/worker/jobs/"+id+"/sections/jurisdiction", sectionBody(1, "zoning_use"), auth).
		workerProblem(t, http.StatusUnprocessableEntity)

	res = e.do(http.MethodGet, "/worker/jobs/"+id+"/sections", nil, auth)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	var saved struct {
		Sections []domain.SectionResult `json:"sections"`
	}
	res.json(t, &saved)
	require.Len(t, saved.Sections, 2)
	require.Equal(t, domain.SectionRunning, saved.Sections[0].Status, "the claim started the jurisdiction")
	require.Equal(t, "saved over the worker API", saved.Sections[1].Summary)

	res = e.do(http.MethodPost, "/worker/jobs/"+id+"/finish", map[string]any{"attempt": 1, "status": "failed", "error": "jurisdiction failed"}, auth)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	res.json(t, &job)
	require.Equal(t, "failed", job.Status)
	require.Equal(t, 1, job.Done)
	require.Equal(t, "failed", e.getJob(id).Status)
}

// A zombie (an attempt that lost its lease) is refused every write, with a
// problem type the client turns back into domain.ErrLeaseLost.
func TestWorkerFencingOverHTTP(t *testing.T) {
	e := newWorkerEnv(t)
	id := e.submit(map[string]any{"address": address}).ID
	auth := bearer(e.tokens.Mint(id, time.Hour))
	res := e.do(http.MethodPost, "/worker/jobs/"+id+"/claim", claimBody(), auth)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	res = e.do(http.MethodPost, "/worker/jobs/"+id+"/release", map[string]any{"attempt": 1, "reason": "draining"}, auth)
	require.Equal(t, http.StatusNoContent, res.StatusCode, "body: %s", res.body)
	res = e.do(http.MethodPost, "/worker/jobs/"+id+"/claim", claimBody(), auth)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)

	stale := map[string]func() response{
		"heartbeat": func() response {
			return e.do(http.MethodPost, "/worker/jobs/"+id+"/heartbeat", map[string]any{"attempt": 1, "lease_ms": 1000}, auth)
		},
		"save": func() response {
			return e.do(http.MethodPut, "/worker/jobs/"+id+"/sections/zoning_use", sectionBody(1, "zoning_use"), auth)
		},
		"finish": func() response {
			return e.do(http.MethodPost, "/worker/jobs/"+id+"/finish", map[string]any{"attempt": 1, "status": "completed"}, auth)
		},
		"release": func() response {
			return e.do(http.MethodPost, "/worker/jobs/"+id+"/release", map[string]any{"attempt": 1}, auth)
		},
	}
	for name, send := range stale {
		p := send().workerProblem(t, http.StatusConflict)
		require.Equal(t, httpapi.ProblemLeaseLost, p.Type, name)
	}
	sections, err := e.store.Sections(t.Context(), id)
	require.NoError(t, err)
	require.Len(t, sections, 1, "the stale attempt's section was not saved")
	require.Equal(t, domain.JurisdictionKey, sections[0].Key, "only the jurisdiction the claims started is")
	job, err := e.store.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, domain.JobProcessing, job.Status)
	require.Equal(t, 2, job.Attempt)

	_, err = e.store.Cancel(t.Context(), id)
	require.NoError(t, err)
	p := e.do(http.MethodPut, "/worker/jobs/"+id+"/sections/zoning_use", sectionBody(2, "zoning_use"), auth).
		workerProblem(t, http.StatusConflict)
	require.Equal(t, httpapi.ProblemLeaseLost, p.Type, "a canceled job's worker is fenced off")
	var seen struct {
		Status string `json:"status"`
	}
	res = e.do(http.MethodGet, "/worker/jobs/"+id, nil, auth)
	require.Equal(t, http.StatusOK, res.StatusCode)
	res.json(t, &seen)
	require.Equal(t, "canceled", seen.Status, "the worker reads the cancel")
}

func TestWorkerClaimTerminalIsConflict(t *testing.T) {
	e := newWorkerEnv(t)
	id := e.submit(map[string]any{"address": address}).ID
	_, err := e.store.Cancel(t.Context(), id)
	require.NoError(t, err)
	p := e.do(http.MethodPost, "/worker/jobs/"+id+"/claim", claimBody(), bearer(e.tokens.Mint(id, time.Hour))).
		workerProblem(t, http.StatusConflict)
	require.Equal(t, "urn:codecheck:problem:conflict", p.Type, "a plain conflict, not a lease problem")
}

func TestWorkerUnknownJob(t *testing.T) {
	e := newWorkerEnv(t)
	id := "01933b8e-6f3a-7c1e-9a4b-2f6d8e0c1a23"
	e.do(http.MethodGet, "/worker/jobs/"+id, nil, bearer(e.tokens.Mint(id, time.Hour))).workerProblem(t, http.StatusNotFound)
}

// requireBudgetUntouched asserts that no refused request took a slot or
// paused a provider.
func (e *workerEnv) requireBudgetUntouched() {
	e.t.Helper()
	paused, err := e.raw.Paused(e.t.Context(), "", "perplexity")
	require.NoError(e.t, err)
	require.Zero(e.t, paused)
	wait, err := e.raw.Acquire(e.t.Context(), "", "perplexity", ports.Rate{PerMinute: 1, Burst: 1})
	require.NoError(e.t, err)
	require.Zero(e.t, wait, "the budget's one slot was still there")
}

// The provider budget over HTTP: slots in order, and a pause every worker
// sees and no slot begins before.
func TestWorkerProviderBudgetOverHTTP(t *testing.T) {
	e := newWorkerEnv(t)
	id := e.submit(map[string]any{"address": address}).ID
	auth := bearer(e.tokens.Mint(id, time.Hour))
	take := func(rpm, burst int) int64 {
		res := e.do(http.MethodPost, "/worker/jobs/"+id+"/providers/openai/calls", map[string]any{"per_minute": rpm, "burst": burst}, auth)
		require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
		var out struct {
			WaitMS int64 `json:"wait_ms"`
		}
		res.json(t, &out)
		return out.WaitMS
	}
	require.Zero(t, take(60, 2))
	require.Zero(t, take(60, 2))
	require.InDelta(t, 1000, take(60, 2), 100, "the third waits a second")

	res := e.do(http.MethodPost, "/worker/jobs/"+id+"/providers/gemini/pause", map[string]any{"pause_ms": 3000}, auth)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	var paused struct {
		PausedMS int64 `json:"paused_ms"`
	}
	res.json(t, &paused)
	require.InDelta(t, 3000, paused.PausedMS, 100)
	other := e.submit(map[string]any{"address": address}).ID
	res = e.do(http.MethodGet, "/worker/jobs/"+other+"/providers/gemini/pause", nil, bearer(e.tokens.Mint(other, time.Hour)))
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	res.json(t, &paused)
	require.InDelta(t, 3000, paused.PausedMS, 100, "another job's worker sees the pause")
	wait, err := e.raw.Acquire(t.Context(), "", "gemini", ports.Rate{PerMinute: 60, Burst: 13})
	require.NoError(t, err)
	require.InDelta(t, 3*time.Second, wait, float64(100*time.Millisecond), "and so does the store")

	for _, body := range []map[string]any{{"per_minute": 0, "burst": 1}, {"per_minute": 60}} {
		e.do(http.MethodPost, "/worker/jobs/"+id+"/providers/openai/calls", body, auth).workerProblem(t, http.StatusUnprocessableEntity)
	}
	e.do(http.MethodPost, "/worker/jobs/"+id+"/providers/acme/calls", map[string]any{"per_minute": 60, "burst": 1}, auth).
		workerProblem(t, http.StatusUnprocessableEntity)
	e.do(http.MethodPost, "/worker/jobs/"+id+"/providers/openai/pause", map[string]any{"pause_ms": 0}, auth).
		workerProblem(t, http.StatusUnprocessableEntity)
}

// A server whose worker store keeps no provider budget says so with a 404.
func TestWorkerProviderBudgetNotKept(t *testing.T) {
	tokens, err := app.NewWorkerTokens(workerSecret, nil)
	require.NoError(t, err)
	e := newEnv(t, func(c *httpapi.Config, sc *app.ServiceConfig) {
		c.WorkerTokens, c.WorkerStore = tokens, struct{ ports.WorkerStore }{sc.Store}
	})
	id := e.submit(map[string]any{"address": address}).ID
	p := e.do(http.MethodPost, "/worker/jobs/"+id+"/providers/openai/calls", map[string]any{"per_minute": 60, "burst": 1},
		bearer(tokens.Mint(id, time.Hour))).workerProblem(t, http.StatusNotFound)
	require.Contains(t, p.Detail, "no provider budget")
}

func TestWorkerSpec(t *testing.T) {
	spec, err := httpapi.Spec(false)
	require.NoError(t, err)
	s := string(spec)
	for _, want := range []string{`"/worker/jobs/{id}/claim"`, `"/worker/jobs/{id}/sections/{key}"`,
		`"/worker/jobs/{id}/providers/{provider}/calls"`, `"/worker/jobs/{id}/providers/{provider}/pause"`,
		`"workerToken"`, `"name": "worker"`, httpapi.ProblemLeaseLost} {
		require.Contains(t, s, want)
	}
}
