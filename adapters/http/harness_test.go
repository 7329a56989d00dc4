package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/adapters/webhook"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

var quiet = slog.New(slog.DiscardHandler)

// stubLLM is the "fake" provider; these tests drive job state through the
// store, so it is never called.
type stubLLM struct{}

func (stubLLM) Name() string  { return "fake" }
func (stubLLM) Model() string { return "stub" }
func (stubLLM) Research(context.Context, ports.SectionRequest) (ports.SectionResponse, error) {
	return ports.SectionResponse{}, &ports.ProviderError{Provider: "fake", Message: "stub provider is not callable"}
}

// resolver answers hooks.example.com with a public address and
// intranet.example.com with a private one.
type resolver struct{}

func (resolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	switch host {
	case "hooks.example.com":
		return []net.IPAddr{{IP: net.ParseIP("93.184.216.34")}}, nil
	case "intranet.example.com":
		return []net.IPAddr{{IP: net.ParseIP("10.20.30.40")}}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// env is a running API over a real SQLite store.
type env struct {
	t     *testing.T
	store ports.JobStore
	raw   *sqlite.Store
	srv   *httpapi.Server
	http  *httptest.Server
	key   string // bearer key sent by do, if any
}

type option func(*httpapi.Config, *app.ServiceConfig)

func withKeys(keys ...string) option {
	return func(c *httpapi.Config, _ *app.ServiceConfig) { c.APIKeys = keys }
}

func withStore(wrap func(ports.JobStore) ports.JobStore) option {
	return func(_ *httpapi.Config, sc *app.ServiceConfig) { sc.Store = wrap(sc.Store) }
}

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "codecheck.db"))
	require.NoError(t, err)
	// cmd tells the app what enables each provider; the 422 repeats it.
	providers, err := app.NewProvidersWith(app.ProvidersConfig{LLMs: []ports.LLM{stubLLM{}},
		Setup: map[string]string{"openai": "OPENAI_API_KEY"}})
	require.NoError(t, err)
	sc := app.ServiceConfig{Store: st, Changes: st, Providers: providers, Logger: quiet,
		ValidateWebhook: webhook.NewValidator(false, resolver{})}
	cfg := httpapi.Config{Logger: quiet, Version: "test", KeepAlive: time.Hour}
	for _, o := range opts {
		o(&cfg, &sc)
	}
	svc, err := app.NewService(sc)
	require.NoError(t, err)
	cfg.Service = svc
	srv, err := httpapi.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	hs.Config.RegisterOnShutdown(srv.Close)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		require.NoError(t, st.Close())
	})
	return &env{t: t, store: sc.Store, raw: st, srv: srv, http: hs}
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// problem is an RFC 9457 problem document as Huma writes it.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

func (r response) problem(t *testing.T, status int) problem {
	t.Helper()
	require.Equal(t, status, r.StatusCode, "body: %s", r.body)
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	var p problem
	r.json(t, &p)
	require.Equal(t, status, p.Status)
	return p
}

// request builds a request; body is a string (sent as is) or a value sent
// as JSON; headers are "Name: value" pairs.
func (e *env) request(method, path string, body any, headers ...string) *http.Request {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.http.URL+path, rd)
	require.NoError(e.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.key != "" {
		req.Header.Set("Authorization", "Bearer "+e.key)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(name, strings.TrimSpace(value))
	}
	return req
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	res, err := e.http.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return response{res, b}
}

func (e *env) do(method, path string, body any, headers ...string) response {
	e.t.Helper()
	return e.send(e.request(method, path, body, headers...))
}

// jobView is the subset of the job view the tests read.
type jobView struct {
	ID          string `json:"id"`
	Address     string `json:"address"`
	LLMProvider string `json:"llm_provider"`
	Status      string `json:"status"`
	Progress    string `json:"progress"`
	Error       string `json:"error"`
	Attempt     int    `json:"attempt"`
	Sections    []struct {
		Key    string `json:"key"`
		Title  string `json:"title"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"sections"`
}

func (e *env) submit(body any, headers ...string) jobView {
	e.t.Helper()
	res := e.do(http.MethodPost, "/jobs", body, headers...)
	require.Equal(e.t, http.StatusAccepted, res.StatusCode, "body: %s", res.body)
	var v jobView
	res.json(e.t, &v)
	require.Equal(e.t, "/jobs/"+v.ID, res.Header.Get("Location"))
	return v
}

func (e *env) getJob(id string) jobView {
	e.t.Helper()
	res := e.do(http.MethodGet, "/jobs/"+id, nil)
	require.Equal(e.t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	var v jobView
	res.json(e.t, &v)
	return v
}

// claim takes the job as a worker would.
func (e *env) claim(id string) ports.Lease {
	e.t.Helper()
	job, err := e.store.Claim(e.t.Context(), ports.ClaimRequest{JobID: id, Worker: "test", Lease: time.Minute})
	require.NoError(e.t, err)
	return ports.Lease{JobID: id, Attempt: job.Attempt}
}

// saveSection saves a result for key with status under l, and starts the
// sections started (each running) in the same write.
func (e *env) saveSection(l ports.Lease, key string, status domain.SectionStatus, started ...string) {
	e.t.Helper()
	var starts []domain.SectionResult
	for _, k := range started {
		spec, ok := domain.LookupSection(k)
		require.True(e.t, ok)
		starts = append(starts, domain.StartSection(spec, domain.SectionResult{}, "fake", "stub", time.Now()))
	}
	spec, ok := domain.LookupSection(key)
	require.True(e.t, ok)
	res := domain.NewSectionResult(spec)
	res.Status = status
	res.Provider, res.Model, res.Attempts = "fake", "stub", 1
	if status == domain.SectionCompleted {
		cost := 0.0125
		res.Summary = "The parcel is in the City of Springfield."
		res.Outcome, res.Confidence, res.Grounded = domain.OutcomeFound, domain.ConfidenceHigh, true
		res.Findings = []domain.Finding{{Label: "Building department", Value: "Springfield Building Division", SourceIDs: []int{1}}}
		res.Sources = []domain.Source{{ID: 1, URL: "https://www.springfield.il.us/building", Title: "Building Division", Official: true}}
		res.Usage = domain.Usage{InputTokens: 1200, OutputTokens: 300, CostUSD: &cost}
	} else {
		res.Error = "provider failed"
	}
	require.NoError(e.t, e.store.SaveSection(e.t.Context(), l, res, starts...))
}

func (e *env) finish(l ports.Lease, status domain.JobStatus, msg string) {
	e.t.Helper()
	_, err := e.store.Finish(e.t.Context(), l, status, msg)
	require.NoError(e.t, err)
}

const address = "100 N 1st St, Springfield, IL 62701"
