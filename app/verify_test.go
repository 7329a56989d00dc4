package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// verdicts answers a verification request: every finding verified, but
// those of the sections in contradict, which a source contradicts.
func verdicts(req ports.SectionRequest, contradict ...string) ports.SectionResponse {
	var vs []map[string]any
	for i := range req.Verify {
		v := map[string]any{"finding": i + 1, "verdict": "verified", "source_id": nil, "quote": "", "note": "stated on the page"}
		for _, k := range contradict {
			if k == req.Section.Key {
				v = map[string]any{"finding": i + 1, "verdict": "contradicted", "source_id": 1,
					"quote": "The maximum height is 35 ft.", "note": "the page gives another value"}
			}
		}
		vs = append(vs, v)
	}
	b, _ := json.Marshal(map[string]any{"verdicts": vs})
	return ports.SectionResponse{Content: string(b), Model: "m1", Grounded: true,
		Usage: domain.Usage{InputTokens: 10, OutputTokens: 5}}
}

// calls counts a scripted provider's research and verification calls per
// section.
type calls struct {
	mu               sync.Mutex
	research, verify map[string]int
}

func (c *calls) add(req ports.SectionRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.research == nil {
		c.research, c.verify = map[string]int{}, map[string]int{}
	}
	if len(req.Verify) > 0 {
		c.verify[req.Section.Key]++
	} else {
		c.research[req.Section.Key]++
	}
}

func (c *calls) counts() (research, verify map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.research, c.verify
}

func submitVerify(t *testing.T, e *env, sections ...string) domain.Job {
	t.Helper()
	on := true
	job, _, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield, IL",
		Provider: "scripted", Sections: sections, Verify: &on})
	require.NoError(t, err)
	require.True(t, job.Verify)
	return job
}

func TestVerifyGivesEveryFindingAVerdict(t *testing.T) {
	var seen []ports.SectionRequest
	var mu sync.Mutex
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if len(req.Verify) == 0 {
			return good(req), nil
		}
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		return verdicts(req, "zoning_use"), nil
	}}
	e := newEnv(t, llm, nil)
	job := submitVerify(t, e, "zoning_use", "energy_code")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Equal(t, "3/3", done.VerifiedProgress())
	require.Len(t, seen, 3, "one verification call per section")

	for _, req := range seen {
		require.Contains(t, req.User, "Verification of section")
		require.Contains(t, req.User, "Finding 1: Fact: 42 ft")
		require.Equal(t, []string{"https://city.example.gov/" + req.Section.Key}, req.ReadURLs, "the cited page is to be read")
		require.Contains(t, req.User, req.ReadURLs[0])
		require.Contains(t, string(req.Schema), `"verdicts"`)
		require.Empty(t, req.AllowedDomains)
	}
	r := e.report(t, job.ID)
	for _, s := range r.Sections {
		require.NotNil(t, s.VerifiedAt, s.Key)
		for _, f := range s.Findings {
			require.NotEmpty(t, f.Verdict, "%s: %s", s.Key, f.Label)
		}
		require.Equal(t, int64(150+15), s.Usage.InputTokens+s.Usage.OutputTokens, "%s: research and verification usage", s.Key)
		require.Equal(t, 2, s.Attempts, "%s: two provider calls", s.Key)
	}
	zoning := sectionOf(t, r, "zoning_use")
	f := zoning.Findings[0]
	require.Equal(t, domain.VerdictContradicted, f.Verdict)
	require.Equal(t, "The maximum height is 35 ft.", f.VerdictQuote)
	require.Equal(t, 1, f.VerdictSourceID)
	require.Equal(t, domain.ConfidenceLow, zoning.Confidence)
	require.Equal(t, domain.ConfidenceHigh, sectionOf(t, r, "energy_code").Confidence, "all verified keeps it")

	var flagged bool
	for _, fl := range r.Summary().RedFlags {
		flagged = flagged || (fl.Kind == domain.FlagContradicted && fl.Section == "zoning_use" && strings.Contains(fl.Message, "Fact"))
	}
	require.True(t, flagged, "a contradicted finding is a red flag naming section and finding: %+v", r.Summary().RedFlags)

	events, err := e.svc.Events(context.Background(), job.ID, 0)
	require.NoError(t, err)
	verifiedEvents := 0
	for _, ev := range events {
		require.NotEmpty(t, ev.VerifiedProgress)
		if ev.Verified {
			verifiedEvents++
		}
	}
	require.Equal(t, 3, verifiedEvents, "a section event with verified per verification")
}

func TestVerifyOffByDefault(t *testing.T) {
	var c calls
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		c.add(req)
		return good(req), nil
	}}
	e := newEnv(t, llm, nil)
	job := e.submit(t, "zoning_use")
	require.False(t, job.Verify)
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	_, verify := c.counts()
	require.Empty(t, verify)
	require.Nil(t, sectionOf(t, e.report(t, job.ID), "zoning_use").VerifiedAt)
}

func TestVerifyInTheIdempotentRequest(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	on := true
	req := app.SubmitRequest{Address: "1 Main St, Springfield, IL", Provider: "scripted", IdempotencyKey: "k1"}
	_, _, err := e.svc.Submit(context.Background(), req)
	require.NoError(t, err)
	req.Verify = &on
	_, _, err = e.svc.Submit(context.Background(), req)
	require.ErrorIs(t, err, domain.ErrIdempotencyMismatch)
}

func TestFailedVerificationKeepsTheResearchAndFlagsIt(t *testing.T) {
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if len(req.Verify) > 0 && req.Section.Key == "zoning_use" {
			return ports.SectionResponse{}, &ports.ProviderError{Provider: "scripted", StatusCode: 400, Message: "bad request"}
		}
		if len(req.Verify) > 0 {
			return verdicts(req), nil
		}
		return good(req), nil
	}}
	e := newEnv(t, llm, nil)
	job := submitVerify(t, e, "zoning_use")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status, "research is done; the verification is an extra")
	require.Equal(t, "1/2", done.VerifiedProgress())
	r := e.report(t, job.ID)
	zoning := sectionOf(t, r, "zoning_use")
	require.Equal(t, domain.SectionCompleted, zoning.Status)
	require.Nil(t, zoning.VerifiedAt)
	require.Contains(t, zoning.VerificationError, "bad request")
	var flagged bool
	for _, fl := range r.Summary().RedFlags {
		flagged = flagged || (fl.Kind == domain.FlagVerificationFailed && fl.Section == "zoning_use")
	}
	require.True(t, flagged)
}

func TestUnusableVerificationGetsOneRepair(t *testing.T) {
	var c calls
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		c.add(req)
		if len(req.Verify) == 0 {
			return good(req), nil
		}
		if !strings.Contains(req.User, "previous answer could not be used") {
			return ports.SectionResponse{Content: `{"verdicts":[{"finding":1,"verdict":"contradicted","source_id":1,"quote":"","note":""}]}`}, nil
		}
		return verdicts(req), nil
	}}
	e := newEnv(t, llm, nil)
	job := submitVerify(t, e, "jurisdiction")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, "1/1", done.VerifiedProgress())
	_, verify := c.counts()
	require.Equal(t, 2, verify[domain.JurisdictionKey], "the answer without a quote was repaired once")
	require.Equal(t, domain.VerdictVerified, sectionOf(t, e.report(t, job.ID), domain.JurisdictionKey).Findings[0].Verdict)
}

// TestCrashMidVerificationResumesWithoutRepeating stops a worker hard while
// it verifies a section: the next attempt verifies that section without
// researching it again, leaves the section verified before alone, and
// researches and verifies the rest.
func TestCrashMidVerificationResumesWithoutRepeating(t *testing.T) {
	var c calls
	stuck := make(chan struct{})
	var once sync.Once
	llm := &scripted{answer: func(ctx context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		c.add(req)
		if len(req.Verify) == 0 {
			return good(req), nil
		}
		if req.Section.Key == "zoning_use" && req.Attempt == 1 {
			once.Do(func() { close(stuck) })
			<-ctx.Done()
			return ports.SectionResponse{}, &ports.ProviderError{Provider: "scripted", Message: "call canceled", Err: ctx.Err()}
		}
		return verdicts(req), nil
	}}
	e := newEnv(t, llm, func(c *app.WorkerConfig) { c.SectionConcurrency = 1 })
	job := submitVerify(t, e, "zoning_use", "energy_code")
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() {
		_, err := e.w.Work(ctx, job.ID, false)
		result <- err
	}()
	<-stuck
	cancel() // the worker stops hard in the middle of zoning_use's verification
	require.Error(t, <-result)

	mid, err := e.store.Get(context.Background(), job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, mid.Status)
	require.Equal(t, "2/3", mid.Progress())
	require.Equal(t, "1/3", mid.VerifiedProgress(), "jurisdiction was verified before the crash")
	zoning := sectionOf(t, e.report(t, job.ID), "zoning_use")
	require.Equal(t, domain.SectionCompleted, zoning.Status)
	require.Nil(t, zoning.VerifiedAt, "a stopped verification saves nothing")

	w2, err := app.NewWorker(app.WorkerConfig{Store: e.store, Changes: e.store, Providers: mustProviders(t, llm), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	done, err := w2.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Equal(t, 2, done.Attempt)
	require.Equal(t, "3/3", done.VerifiedProgress())
	research, verify := c.counts()
	require.Equal(t, map[string]int{domain.JurisdictionKey: 1, "zoning_use": 1, "energy_code": 1}, research, "nothing researched twice")
	require.Equal(t, map[string]int{domain.JurisdictionKey: 1, "zoning_use": 2, "energy_code": 1}, verify,
		"only the verification the crash stopped is asked again")
}

func TestFindingsCitingNoSourceAreUnverifiableWithoutACall(t *testing.T) {
	var c calls
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		c.add(req)
		b, _ := json.Marshal(map[string]any{
			"summary": "Answer", "outcome": "found", "confidence": "medium", "confidence_reason": "memory",
			"findings":           []map[string]any{{"label": "Fact", "value": "42 ft", "code_reference": "", "source_ids": []int{}}},
			"needs_verification": true, "verify_with": "",
		})
		return ports.SectionResponse{Content: string(b), Model: "m1"}, nil
	}}
	e := newEnv(t, llm, nil)
	job := submitVerify(t, e, "zoning_use")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, "2/2", done.VerifiedProgress())
	_, verify := c.counts()
	require.Empty(t, verify, "nothing to read: no call")
	f := sectionOf(t, e.report(t, job.ID), "zoning_use").Findings[0]
	require.Equal(t, domain.VerdictUnverifiable, f.Verdict)
	require.Equal(t, "it cites no source", f.VerdictNote)
}

func TestTimeoutDuringVerificationNamesTheUnverifiedSections(t *testing.T) {
	llm := &scripted{answer: func(ctx context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if len(req.Verify) > 0 && req.Section.Key == "zoning_use" {
			<-ctx.Done()
			return ports.SectionResponse{}, &ports.ProviderError{Provider: "scripted", Message: "call canceled", Err: ctx.Err()}
		}
		if len(req.Verify) > 0 {
			return verdicts(req), nil
		}
		return good(req), nil
	}}
	// The timeout must outlast everything else the job does (two instant
	// research calls and saves, even under -race on a loaded machine): only
	// zoning_use's verification waits for it.
	e := newEnv(t, llm, func(c *app.WorkerConfig) { c.JobTimeout = 2 * time.Second })
	job := submitVerify(t, e, "zoning_use")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, done.Status)
	require.Contains(t, done.Error, "unverified sections: zoning_use")
	require.Equal(t, "2/2", done.Progress(), "the research is kept")
	require.Equal(t, "1/2", done.VerifiedProgress())
}

// Verification calls count against the cost cap like research calls: with
// $0.35 for two sections at $0.10 a call, both are researched, one is
// verified, and the other's verification is not made: it ends with
// verification_error, the research kept.
func TestVerificationStopsAtTheCostCap(t *testing.T) {
	prices, err := domain.ParsePrices([]byte(`[{"provider":"scripted","model":"*","input_per_mtok":1}]`))
	require.NoError(t, err)
	var c calls
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		c.add(req)
		resp := good(req)
		if len(req.Verify) > 0 {
			resp = verdicts(req)
		}
		resp.Usage = domain.Usage{InputTokens: 100_000}
		return resp, nil
	}}
	e := newEnv(t, llm, func(cfg *app.WorkerConfig) { cfg.Prices, cfg.SectionConcurrency = prices, 1 })
	on, limit := true, 0.35
	job, _, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield, IL",
		Provider: "scripted", Sections: []string{"zoning_use"}, Verify: &on, MaxCostUSD: &limit})
	require.NoError(t, err)
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status, "the research is done")
	require.Equal(t, "2/2", done.Progress())
	research, verify := c.counts()
	require.Len(t, research, 2, "both sections researched")
	require.Equal(t, 1, verify[domain.JurisdictionKey]+verify["zoning_use"], "one verification fits under the cap")
	r := e.report(t, job.ID)
	var capped int
	for _, s := range r.Sections {
		if s.VerifiedAt == nil {
			require.Contains(t, s.VerificationError, domain.CostCapReached)
			capped++
		}
		require.NotNil(t, s.Usage.CostUSD)
	}
	require.Equal(t, 1, capped)
	require.Equal(t, "1/2", done.VerifiedProgress())
	require.True(t, done.CostCapped, "a verification the cap stopped flags the job, so that it can be retried")

	// A higher cap finishes the verification, without researching again.
	higher := 5.0
	_, err = e.svc.Retry(context.Background(), job.ID, domain.RetryOptions{MaxCostUSD: &higher})
	require.NoError(t, err)
	done, err = e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.False(t, done.CostCapped)
	require.Equal(t, "2/2", done.VerifiedProgress())
	research, verify = c.counts()
	require.Equal(t, map[string]int{domain.JurisdictionKey: 1, "zoning_use": 1}, research, "nothing researched again")
	require.Equal(t, 2, verify[domain.JurisdictionKey]+verify["zoning_use"], "only the missing verification ran")
}

// A retryable error on a verification call is retried as on research.
func TestVerificationIsRetried(t *testing.T) {
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, n int) (ports.SectionResponse, error) {
		if len(req.Verify) == 0 {
			return good(req), nil
		}
		if n == 2 { // the section's second call: its first verification
			return ports.SectionResponse{}, retryable(503, 0)
		}
		return verdicts(req), nil
	}}
	e := newEnv(t, llm, nil)
	job := submitVerify(t, e, "jurisdiction")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, "1/1", done.VerifiedProgress())
	s := sectionOf(t, e.report(t, job.ID), domain.JurisdictionKey)
	require.Equal(t, 3, s.Attempts, "research, a failed verification and its retry")
	require.Equal(t, domain.VerdictVerified, s.Findings[0].Verdict)
}
