package app_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// costly is a scripted provider whose every call costs $0.10 by the price
// table (100k input tokens at $1/M).
func costly(t *testing.T) (*scripted, func(*app.WorkerConfig)) {
	prices, err := domain.ParsePrices([]byte(`[{"provider":"scripted","model":"*","input_per_mtok":1}]`))
	require.NoError(t, err)
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		resp := good(req)
		resp.Usage = domain.Usage{InputTokens: 100_000}
		return resp, nil
	}}
	return llm, func(c *app.WorkerConfig) {
		c.Prices = prices
		c.SectionConcurrency = 1 // calls one after another: the cap lands at a known call
	}
}

func submitCapped(t *testing.T, e *env, limit float64, sections ...string) domain.Job {
	t.Helper()
	job, _, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield, IL",
		Provider: "scripted", Sections: sections, MaxCostUSD: &limit})
	require.NoError(t, err)
	return job
}

// A cap of $0.35 pays for three $0.10 calls: the fourth would pass it, so
// no further call is made and the rest are skipped. The essential sections
// are done, so the job completes, flagged; a retry with a higher cap runs
// only the skipped sections.
func TestCostCapSkipsTheRestAndRetryWithAHigherCapFinishes(t *testing.T) {
	llm, tune := costly(t)
	e := newEnv(t, llm, tune)
	job := submitCapped(t, e, 0.35, "jurisdiction", "adopted_codes", "zoning_use", "parking_access", "energy_code")

	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, 3, len(llm.calls), "no call past the cap")
	require.Equal(t, domain.JobCompleted, done.Status)
	require.True(t, done.CostCapped)
	r := e.report(t, job.ID)
	statuses := map[string]domain.SectionStatus{}
	for _, s := range r.Sections {
		statuses[s.Key] = s.Status
		if s.Status == domain.SectionSkipped {
			require.Contains(t, s.Error, domain.CostCapReached)
		}
	}
	require.Equal(t, map[string]domain.SectionStatus{"jurisdiction": domain.SectionCompleted, "adopted_codes": domain.SectionCompleted,
		"zoning_use": domain.SectionCompleted, "parking_access": domain.SectionSkipped, "energy_code": domain.SectionSkipped}, statuses)
	require.NotNil(t, r.Usage.CostUSD)
	require.InDelta(t, 0.30, *r.Usage.CostUSD, 1e-9)

	higher := 1.0
	retried, err := e.svc.Retry(context.Background(), job.ID, domain.RetryOptions{MaxCostUSD: &higher})
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, retried.Status)
	require.False(t, retried.CostCapped)
	require.InDelta(t, 1.0, *retried.MaxCostUSD, 1e-9)
	done, err = e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.False(t, done.CostCapped)
	require.Equal(t, 5, len(llm.calls), "only the two skipped sections ran again")
	require.Equal(t, 1, llm.callsFor("jurisdiction"))
}

// When the cap stops the job before an essential section is done, the job
// fails and says so; a retry with a higher cap finishes it.
func TestCostCapBeforeEssentialSectionsFailsTheJob(t *testing.T) {
	llm, tune := costly(t)
	e := newEnv(t, llm, tune)
	job := submitCapped(t, e, 0.15, "jurisdiction", "adopted_codes", "zoning_use")

	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, 1, len(llm.calls))
	require.Equal(t, domain.JobFailed, done.Status)
	require.Contains(t, done.Error, domain.CostCapReached)
	require.Contains(t, done.Error, "max_cost_usd")

	_, err = e.svc.Retry(context.Background(), job.ID, domain.RetryOptions{})
	require.NoError(t, err, "a failed job is retried without a new cap too")
	done, err = e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, done.Status, "the same cap stops it again, with no call: $0.10 is spent")
	require.Equal(t, 1, len(llm.calls))
}

func TestCostCapIsValidated(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	for _, bad := range []float64{0, -1, 1e9} {
		_, _, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield, IL",
			Provider: "scripted", MaxCostUSD: &bad})
		var ve *domain.ValidationError
		require.ErrorAs(t, err, &ve, "max_cost_usd %v", bad)
		require.Equal(t, "max_cost_usd", ve.Field)
	}
	job := e.submit(t)
	_, err := e.svc.Retry(context.Background(), job.ID, domain.RetryOptions{})
	require.ErrorIs(t, err, domain.ErrConflict, "a pending job is not retried")
}

// What a failed section cost stays counted after a retry runs it again: in
// its usage, its call count and the job's total.
func TestRetriedSectionKeepsWhatEarlierAttemptsSpent(t *testing.T) {
	prices, err := domain.ParsePrices([]byte(`[{"provider":"scripted","model":"*","input_per_mtok":1}]`))
	require.NoError(t, err)
	broken := true
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		resp := good(req)
		resp.Usage = domain.Usage{InputTokens: 100_000} // $0.10 a call
		if broken && req.Section.Key == "zoning_use" {
			resp.Content = "not json" // unusable, and again after the repair: the section fails
		}
		return resp, nil
	}}
	e := newEnv(t, llm, func(c *app.WorkerConfig) { c.Prices = prices })
	job := e.submit(t, "zoning_use")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, done.Status)

	broken = false
	_, err = e.svc.Retry(context.Background(), job.ID, domain.RetryOptions{})
	require.NoError(t, err)
	done, err = e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	for _, s := range e.report(t, job.ID).Sections {
		if s.Key == "zoning_use" {
			require.Equal(t, 3, s.Attempts, "two calls in the failed attempt, one in the retry")
			require.InDelta(t, 0.30, *s.Usage.CostUSD, 1e-9)
			require.EqualValues(t, 300_000, s.Usage.InputTokens)
		}
	}
}
