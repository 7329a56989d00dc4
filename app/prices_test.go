package app_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

func TestDefaultPricesParseAndPriceEveryProvider(t *testing.T) {
	prices := app.DefaultPrices()
	for _, c := range []struct{ provider, model string }{
		{"perplexity", "sonar-pro"}, {"perplexity", "perplexity/sonar"}, {"openai", "gpt-5-mini-2025-08-07"},
		{"gemini", "gemini-2.5-flash"}, {"gemini", "gemini-e2e-flash"},
	} {
		usd, ok := prices.Cost(c.provider, c.model, domain.Usage{InputTokens: 1000, OutputTokens: 500, SearchCalls: 1})
		require.True(t, ok, "%s %s has a price", c.provider, c.model)
		require.Greater(t, usd, 0.0, "%s %s costs something", c.provider, c.model)
	}
	usd, ok := prices.Cost("fake", "simulated", domain.Usage{InputTokens: 1000, OutputTokens: 500})
	require.True(t, ok)
	require.Zero(t, usd, "the simulated provider is free")
}

// A call without a reported cost is priced from the table; one with the
// provider's own figure keeps it; the section sums its calls (here the
// answer and its repair).
func TestCallsArePricedAndSummedPerSection(t *testing.T) {
	prices, err := domain.ParsePrices([]byte(`[{"provider":"scripted","model":"m1","input_per_mtok":2,"output_per_mtok":10,"per_search":0.01}]`))
	require.NoError(t, err)
	reported := 0.5
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, n int) (ports.SectionResponse, error) {
		resp := good(req)
		resp.Usage.SearchCalls = 2
		switch {
		case req.Section.Key == "zoning_use":
			resp.Usage.CostUSD = &reported
		case req.Section.Key == "parking_access" && n == 1:
			resp.Content = "not json" // repaired by a second call
		}
		return resp, nil
	}}
	e := newEnv(t, llm, func(c *app.WorkerConfig) { c.Prices = prices })
	job := e.submit(t, "jurisdiction", "zoning_use", "parking_access")
	_, err = e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)

	perCall := 100*2/1e6 + 50*10/1e6 + 2*0.01
	costs := map[string]float64{}
	r := e.report(t, job.ID)
	for _, s := range r.Sections {
		require.NotNil(t, s.Usage.CostUSD, s.Key)
		costs[s.Key] = *s.Usage.CostUSD
	}
	require.InDelta(t, perCall, costs["jurisdiction"], 1e-9)
	require.InDelta(t, reported, costs["zoning_use"], 1e-9, "the provider's own cost wins")
	require.InDelta(t, 2*perCall, costs["parking_access"], 1e-9, "the repair call counts too")
	require.NotNil(t, r.Usage.CostUSD)
	require.InDelta(t, 3*perCall+reported, *r.Usage.CostUSD, 1e-9, "the job sums its sections")
}
