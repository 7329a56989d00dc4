package app_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// sfJurisdiction answers the jurisdiction section with San Francisco's
// domains; the other sections cite the city's site and a lookalike.
func sfJurisdiction(req ports.SectionRequest) ports.SectionResponse {
	if req.Section.Key != domain.JurisdictionKey {
		resp := good(req)
		resp.Sources = []domain.Source{{ID: 1, URL: "https://sfplanning.org/" + req.Section.Key},
			{ID: 2, URL: "https://cheap-permits.us/" + req.Section.Key}}
		return resp
	}
	b, _ := json.Marshal(map[string]any{
		"summary": "City and County of San Francisco.", "outcome": "found", "confidence": "high", "confidence_reason": "official",
		"findings":           []map[string]any{{"label": "City", "value": "San Francisco", "code_reference": "", "source_ids": []int{1}}},
		"needs_verification": false, "verify_with": "",
		"jurisdiction": map[string]any{"city": "San Francisco", "county": "San Francisco", "state": "CA", "apn": nil,
			"zoning_district": "RH-1", "official_domains": []string{"https://www.SFPlanning.org/", "sfdbi.org"},
			"code_host_url": nil, "offices": []any{}},
	})
	return ports.SectionResponse{Content: string(b), Model: "m1", Grounded: true,
		Sources: []domain.Source{{ID: 1, URL: "https://sf.gov/"}}}
}

func TestJurisdictionDomainsNarrowSearchesAndMarkSourcesOfficial(t *testing.T) {
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		return sfJurisdiction(req), nil
	}}
	e := newEnv(t, llm, nil)
	job := e.submit(t, domain.JurisdictionKey, "zoning_use", "energy_code")
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)

	require.Len(t, llm.calls, 3, "no fallback: the narrowed searches found sources")
	require.Empty(t, llm.calls[0].AllowedDomains, "the jurisdiction section searches the open web")
	for _, c := range llm.calls[1:] {
		require.Equal(t, []string{"sfplanning.org", "sfdbi.org"}, c.AllowedDomains, c.Section.Key)
	}
	r := e.report(t, job.ID)
	for _, s := range r.Sections {
		if s.Key == domain.JurisdictionKey {
			require.NotNil(t, s.Jurisdiction)
			require.Equal(t, "RH-1", s.Jurisdiction.ZoningDistrict)
			require.Equal(t, []string{"sfplanning.org", "sfdbi.org"}, s.Jurisdiction.OfficialDomains)
			continue
		}
		require.Nil(t, s.Jurisdiction)
		require.True(t, s.Sources[0].Official, "%s: the city's own domain", s.Sources[0].URL)
		require.False(t, s.Sources[1].Official, "%s: a lookalike .us domain", s.Sources[1].URL)
	}
}

func TestNarrowedSearchWithoutSourcesFallsBackToTheOpenWeb(t *testing.T) {
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		resp := sfJurisdiction(req)
		if req.Section.Key == "zoning_use" && len(req.AllowedDomains) > 0 {
			resp.Sources = nil // nothing found on the city's domains
		}
		return resp, nil
	}}
	e := newEnv(t, llm, nil)
	job := e.submit(t, domain.JurisdictionKey, "zoning_use", "energy_code")
	_, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)

	require.Equal(t, 2, llm.callsFor("zoning_use"), "asked once more without the filter")
	require.Equal(t, 1, llm.callsFor("energy_code"))
	var zoning []ports.SectionRequest
	for _, c := range llm.calls {
		if c.Section.Key == "zoning_use" {
			zoning = append(zoning, c)
		}
	}
	require.NotEmpty(t, zoning[0].AllowedDomains)
	require.Empty(t, zoning[1].AllowedDomains)
	s := sectionOf(t, e.report(t, job.ID), "zoning_use")
	require.Equal(t, domain.SectionCompleted, s.Status)
	require.Len(t, s.Sources, 2, "the open search's sources")
	require.True(t, s.Sources[0].Official)
	require.Equal(t, 2, s.Attempts)
	require.Equal(t, int64(200), s.Usage.InputTokens, "both calls are counted")
}

func TestFailedFallbackKeepsTheNarrowedAnswer(t *testing.T) {
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if req.Section.Key == "zoning_use" && len(req.AllowedDomains) == 0 {
			return ports.SectionResponse{}, &ports.ProviderError{Provider: "scripted", StatusCode: 400, Message: "bad"}
		}
		resp := sfJurisdiction(req)
		if req.Section.Key == "zoning_use" {
			resp.Sources = nil
		}
		return resp, nil
	}}
	e := newEnv(t, llm, nil)
	job := e.submit(t, domain.JurisdictionKey, "zoning_use")
	_, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	s := sectionOf(t, e.report(t, job.ID), "zoning_use")
	require.Equal(t, domain.SectionCompleted, s.Status)
	require.Empty(t, s.Error)
	require.Equal(t, "Answer for zoning_use", s.Summary)
	require.Equal(t, domain.ConfidenceLow, s.Confidence, "no sources")
}

func TestNoJurisdictionDomainsNoFilter(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	job := e.submit(t, domain.JurisdictionKey, "zoning_use")
	_, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	for _, c := range e.llm.calls {
		require.Empty(t, c.AllowedDomains)
	}
	require.Nil(t, sectionOf(t, e.report(t, job.ID), domain.JurisdictionKey).Jurisdiction)
}

func sectionOf(t *testing.T, r domain.Report, key string) domain.SectionResult {
	t.Helper()
	for _, s := range r.Sections {
		if s.Key == key {
			return s
		}
	}
	t.Fatalf("no section %s", key)
	return domain.SectionResult{}
}
