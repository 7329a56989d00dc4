package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// The app's tests run the use cases over the real SQLite store and a
// scripted provider.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scripted is an LLM whose answers a test decides per section.
type scripted struct {
	mu    sync.Mutex
	calls []ports.SectionRequest
	times map[string][]time.Time
	// answer returns the response for the n-th call (1-based) of a section.
	answer func(ctx context.Context, req ports.SectionRequest, n int) (ports.SectionResponse, error)
}

func (s *scripted) Name() string  { return "scripted" }
func (s *scripted) Model() string { return "m1" }

func (s *scripted) Research(ctx context.Context, req ports.SectionRequest) (ports.SectionResponse, error) {
	s.mu.Lock()
	s.calls = append(s.calls, req)
	if s.times == nil {
		s.times = map[string][]time.Time{}
	}
	s.times[req.Section.Key] = append(s.times[req.Section.Key], time.Now())
	n := len(s.times[req.Section.Key])
	s.mu.Unlock()
	if s.answer == nil {
		return good(req), nil
	}
	return s.answer(ctx, req, n)
}

func (s *scripted) callsFor(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.times[key])
}

func good(req ports.SectionRequest) ports.SectionResponse {
	b, _ := json.Marshal(map[string]any{
		"summary": "Answer for " + req.Section.Key, "outcome": "found", "confidence": "high", "confidence_reason": "official",
		"findings":           []map[string]any{{"label": "Fact", "value": "42 ft", "code_reference": "§ 1", "source_ids": []int{1}}},
		"needs_verification": false, "verify_with": "",
	})
	return ports.SectionResponse{Content: string(b), Model: "m1", Grounded: true,
		Sources: []domain.Source{{ID: 1, URL: "https://city.example.gov/" + req.Section.Key, Title: "City"}},
		Usage:   domain.Usage{InputTokens: 100, OutputTokens: 50}}
}

type env struct {
	store *sqlite.Store
	llm   *scripted
	svc   *app.Service
	w     *app.Worker
}

func newEnv(t *testing.T, llm *scripted, tune func(*app.WorkerConfig)) *env {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	providers, err := app.NewProviders("", llm)
	require.NoError(t, err)
	quiet := slog.New(slog.DiscardHandler)
	svc, err := app.NewService(app.ServiceConfig{Store: store, Changes: store, Providers: providers, Logger: quiet})
	require.NoError(t, err)
	cfg := app.WorkerConfig{Store: store, Changes: store, Providers: providers, Lease: 3 * time.Second,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Logger: quiet}
	if tune != nil {
		tune(&cfg)
	}
	w, err := app.NewWorker(cfg)
	require.NoError(t, err)
	return &env{store: store, llm: llm, svc: svc, w: w}
}

func (e *env) submit(t *testing.T, sections ...string) domain.Job {
	t.Helper()
	job, _, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield, IL", Provider: "scripted", Sections: sections})
	require.NoError(t, err)
	return job
}

func (e *env) report(t *testing.T, id string) domain.Report {
	t.Helper()
	r, err := e.svc.Get(context.Background(), id)
	require.NoError(t, err)
	return r
}

func retryable(status int, after time.Duration) error {
	return &ports.ProviderError{Provider: "scripted", StatusCode: status, Retryable: true, RetryAfter: after, Message: "busy"}
}

func TestJobCompletesJurisdictionFirstWithContext(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	job := e.submit(t)
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Equal(t, "13/13", done.Progress())

	calls := e.llm.calls
	require.Len(t, calls, 13)
	require.Equal(t, domain.JurisdictionKey, calls[0].Section.Key)
	for _, c := range calls[1:] {
		require.Contains(t, c.User, "<jurisdiction>\nAnswer for jurisdiction\n- Fact: 42 ft (§ 1)\n</jurisdiction>")
		require.JSONEq(t, string(calls[1].Schema), string(c.Schema))
		require.NotContains(t, string(c.Schema), `"jurisdiction"`, "only the jurisdiction section returns the typed object")
	}
	r := e.report(t, job.ID)
	for _, s := range r.Sections {
		require.Equal(t, domain.SectionCompleted, s.Status)
		require.True(t, s.Grounded)
		require.True(t, s.Sources[0].Official)
		require.Equal(t, []int{1}, s.Findings[0].SourceIDs)
		require.Equal(t, 1, s.Attempts)
		require.NotNil(t, s.FinishedAt)
	}
	require.Equal(t, int64(1300), r.Usage.InputTokens)
}

func TestRetryableErrorsAreRetriedHonouringRetryAfter(t *testing.T) {
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, n int) (ports.SectionResponse, error) {
		if req.Section.Key == "zoning_use" {
			switch n {
			case 1:
				return ports.SectionResponse{}, retryable(429, 300*time.Millisecond)
			case 2:
				return ports.SectionResponse{}, retryable(503, 0)
			}
		}
		return good(req), nil
	}}
	e := newEnv(t, llm, nil)
	job := e.submit(t, "zoning_use")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	times := llm.times["zoning_use"]
	require.Len(t, times, 3)
	require.GreaterOrEqual(t, times[1].Sub(times[0]), 300*time.Millisecond, "waited the Retry-After")
	s := e.report(t, job.ID).Sections[1]
	require.Equal(t, 3, s.Attempts)
}

func TestPermanentErrorFailsSectionAtOnceOthersGoOn(t *testing.T) {
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if req.Section.Key == "energy_code" {
			return ports.SectionResponse{}, &ports.ProviderError{Provider: "scripted", StatusCode: 400, Message: "bad request"}
		}
		return good(req), nil
	}}
	e := newEnv(t, llm, nil)
	job := e.submit(t)
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, done.Status)
	require.Equal(t, "12/13", done.Progress())
	require.Contains(t, done.Error, "1 of 13 sections failed: energy_code (scripted: HTTP 400: bad request)")
	require.Equal(t, 1, llm.callsFor("energy_code"), "no retry of a permanent error")

	// Retry runs only the failed section.
	_, err = e.svc.Retry(context.Background(), job.ID, domain.RetryOptions{})
	require.NoError(t, err)
	llm.answer = nil
	done, err = e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Len(t, llm.calls, 14)
	require.Equal(t, 2, llm.callsFor("energy_code"))
}

func TestCredentialErrorStopsCallingTheProvider(t *testing.T) {
	llm := &scripted{answer: func(context.Context, ports.SectionRequest, int) (ports.SectionResponse, error) {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: "scripted", StatusCode: 401, Message: "bad key", EnvVar: "SCRIPTED_API_KEY"}
	}}
	e := newEnv(t, llm, nil)
	job := e.submit(t)
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, done.Status)
	require.Len(t, llm.calls, 1, "only the jurisdiction call was sent")
	require.Contains(t, done.Error, "13 of 13 sections failed: jurisdiction, adopted_codes, zoning_use")
	require.Contains(t, done.Error, "permitting_process (scripted: HTTP 401: bad key (check SCRIPTED_API_KEY))")
	for _, s := range e.report(t, job.ID).Sections {
		require.Equal(t, domain.SectionFailed, s.Status)
		require.Contains(t, s.Error, "SCRIPTED_API_KEY")
	}
}

func TestInvalidAnswerGetsOneRepair(t *testing.T) {
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, n int) (ports.SectionResponse, error) {
		switch {
		case req.Section.Key == "zoning_use" && n == 1:
			return ports.SectionResponse{Content: `{"summary": "cut`, Truncated: true}, nil
		case req.Section.Key == "energy_code":
			return ports.SectionResponse{Content: "Sorry, I cannot answer that."}, nil
		}
		return good(req), nil
	}}
	e := newEnv(t, llm, nil)
	job := e.submit(t, "zoning_use", "energy_code")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, done.Status)
	r := e.report(t, job.ID)
	require.Equal(t, domain.SectionCompleted, r.Sections[1].Status)
	require.Contains(t, llm.calls[len(llm.calls)-1].User+llm.calls[len(llm.calls)-2].User, "could not be used")
	require.Equal(t, domain.SectionFailed, r.Sections[2].Status)
	require.Contains(t, r.Sections[2].Error, "answer still unusable after one repair attempt: invalid answer: no JSON object")
	require.Equal(t, 2, llm.callsFor("energy_code"))
}

func TestCancelStopsRunningWorkWithinASecond(t *testing.T) {
	started := make(chan struct{}, 13)
	llm := &scripted{answer: func(ctx context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if req.Section.Key == domain.JurisdictionKey {
			return good(req), nil
		}
		started <- struct{}{}
		<-ctx.Done()
		return ports.SectionResponse{}, ctx.Err()
	}}
	e := newEnv(t, llm, nil)
	job := e.submit(t)
	result := make(chan error, 1)
	go func() {
		_, err := e.w.Work(context.Background(), job.ID, false)
		result <- err
	}()
	<-started
	canceledAt := time.Now()
	_, err := e.svc.Cancel(context.Background(), job.ID)
	require.NoError(t, err)
	select {
	case err := <-result:
		require.ErrorIs(t, err, app.ErrJobFinished)
		require.Less(t, time.Since(canceledAt), 5*time.Second) // generous: the behaviour is "stops", not a benchmark
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop after cancel")
	}
	final, err := e.store.Get(context.Background(), job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobCanceled, final.Status)
}

func TestJobTimeoutFailsTheJob(t *testing.T) {
	llm := &scripted{answer: func(ctx context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if req.Section.Key == domain.JurisdictionKey {
			return good(req), nil
		}
		<-ctx.Done()
		return ports.SectionResponse{}, ctx.Err()
	}}
	e := newEnv(t, llm, func(c *app.WorkerConfig) { c.JobTimeout = 200 * time.Millisecond })
	job := e.submit(t, "zoning_use")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, done.Status)
	require.Contains(t, done.Error, "job timed out after 200ms")
	r := e.report(t, job.ID)
	require.Equal(t, domain.SectionCompleted, r.Sections[0].Status)
	require.Equal(t, domain.SectionFailed, r.Sections[1].Status)
	require.Equal(t, "job timed out before the section finished", r.Sections[1].Error)
}

func TestDrainReleasesUnfinishedJobAndNextAttemptSkipsCompletedSections(t *testing.T) {
	release := make(chan struct{})
	inFlight := make(chan string, 13)
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if req.Section.Key != domain.JurisdictionKey {
			inFlight <- req.Section.Key
			<-release
		}
		return good(req), nil
	}}
	e := newEnv(t, llm, func(c *app.WorkerConfig) { c.SectionConcurrency = 2 })
	job := e.submit(t)
	result := make(chan error, 1)
	go func() {
		_, err := e.w.Work(context.Background(), job.ID, false)
		result <- err
	}()
	first := []string{<-inFlight, <-inFlight}
	e.w.Stop() // drain: the two running sections finish, nothing new starts
	close(release)
	require.ErrorIs(t, <-result, app.ErrReleased)
	j, err := e.store.Get(context.Background(), job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, j.Status)
	require.Equal(t, "3/13", j.Progress())

	// A fresh worker resumes: only the ten sections not done are called.
	w2, err := app.NewWorker(app.WorkerConfig{Store: e.store, Changes: e.store, Providers: mustProviders(t, llm), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	done, err := w2.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Equal(t, 2, done.Attempt)
	require.Len(t, llm.calls, 13, "no section was computed twice")
	for _, k := range append(first, domain.JurisdictionKey) {
		require.Equal(t, 1, llm.callsFor(k), k)
	}
}

func mustProviders(t *testing.T, l ports.LLM) *app.Providers {
	p, err := app.NewProviders("", l)
	require.NoError(t, err)
	return p
}

func TestStaleWorkerCannotWrite(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	job := e.submit(t)
	claimed, err := e.store.Claim(context.Background(), ports.ClaimRequest{JobID: job.ID, Worker: "a", Lease: time.Minute})
	require.NoError(t, err)
	_, err = e.svc.Cancel(context.Background(), job.ID)
	require.NoError(t, err)
	err = e.store.SaveSection(context.Background(), ports.Lease{JobID: job.ID, Attempt: claimed.Attempt},
		domain.SectionResult{Key: "zoning_use", Status: domain.SectionCompleted})
	require.ErrorIs(t, err, domain.ErrLeaseLost)
	_, err = e.w.Work(context.Background(), job.ID, false)
	require.ErrorIs(t, err, app.ErrJobFinished)
}

func TestSubmitValidation(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	cases := map[string]app.SubmitRequest{
		"address":      {Address: " x "},
		"llm_provider": {Address: "1 Main St, Springfield", Provider: "openai"},
		"sections[0]":  {Address: "1 Main St, Springfield", Sections: []string{"roof"}},
		"webhook_url":  {Address: "1 Main St, Springfield", WebhookURL: "https://hooks.example.com/x"},
	}
	for field, req := range cases {
		_, _, err := e.svc.Submit(context.Background(), req)
		var ve *domain.ValidationError
		require.True(t, errors.As(err, &ve), "%s: %v", field, err)
		require.Equal(t, field, ve.Field)
	}
	var ve *domain.ValidationError
	_, _, err := e.svc.Submit(context.Background(), cases["llm_provider"])
	require.True(t, errors.As(err, &ve))
	require.Contains(t, ve.Rule, `"openai" is not configured`) // the setting to name comes from cmd: providers_test.go

	a, existed, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield", IdempotencyKey: "k"})
	require.NoError(t, err)
	require.False(t, existed)
	b, existed, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield", IdempotencyKey: "k"})
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, a.ID, b.ID)
	_, _, err = e.svc.Submit(context.Background(), app.SubmitRequest{Address: "2 Main St, Springfield", IdempotencyKey: "k"})
	require.ErrorIs(t, err, domain.ErrIdempotencyMismatch)
}

func TestLimitBoundsConcurrentCalls(t *testing.T) {
	var mu sync.Mutex
	cur, peak := 0, 0
	gate := make(chan struct{})
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		mu.Lock()
		cur++
		peak = max(peak, cur)
		mu.Unlock()
		<-gate
		mu.Lock()
		cur--
		mu.Unlock()
		return good(req), nil
	}}
	limited := app.Limit(llm, 2, 0)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			req := ports.SectionRequest{Section: domain.Catalogue()[i]}
			_, err := limited.Research(context.Background(), req)
			require.NoError(t, err)
		})
	}
	inFlight := func() int {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}
	require.Eventually(t, func() bool { return inFlight() == 2 }, 5*time.Second, time.Millisecond)
	for range 6 {
		gate <- struct{}{}
	}
	wg.Wait()
	require.Equal(t, 2, peak, "never more than the limit at once")
	require.Equal(t, "scripted", limited.Name())
}
