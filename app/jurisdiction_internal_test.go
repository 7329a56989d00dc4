package app

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// requireStrict checks that every object in schema requires all its
// properties and allows no others, as OpenAI's strict mode demands.
func requireStrict(t *testing.T, path string, schema map[string]any) {
	t.Helper()
	if props, ok := schema["properties"].(map[string]any); ok {
		require.Equal(t, false, schema["additionalProperties"], path)
		required, _ := schema["required"].([]any)
		require.Len(t, required, len(props), "%s: every property required", path)
		for name, p := range props {
			require.Contains(t, required, name, path)
			requireStrict(t, path+"."+name, p.(map[string]any))
		}
	}
	if items, ok := schema["items"].(map[string]any); ok {
		requireStrict(t, path+"[]", items)
	}
}

func TestJurisdictionSchemaIsStrict(t *testing.T) {
	var s map[string]any
	require.NoError(t, json.Unmarshal(schemaFor(domain.JurisdictionKey), &s))
	requireStrict(t, "$", s)
	j := s["properties"].(map[string]any)["jurisdiction"].(map[string]any)
	for _, f := range []string{"city", "county", "state", "apn", "zoning_district", "official_domains", "code_host_url", "offices"} {
		require.Contains(t, j["properties"], f)
	}
	require.JSONEq(t, string(answerSchema), string(schemaFor("zoning_use")), "other sections keep the plain schema")
}

func TestApplyAnswerReadsTheJurisdiction(t *testing.T) {
	a, err := parseAnswer(`{"summary":"San Francisco.","outcome":"found","confidence":"high","confidence_reason":"r",
		"findings":[{"label":"City","value":"San Francisco","code_reference":"","source_ids":[1],"quote":"","code_edition":null,"effective_date":null}],
		"needs_verification":false,"verify_with":"",
		"jurisdiction":{"city":"San Francisco","county":"San Francisco","state":"CA","apn":"1234/005","zoning_district":"RH-1",
		  "official_domains":["https://SFPlanning.org/about","www.sfdbi.org","sf.gov","localhost","ca.us"],
		  "code_host_url":"https://codelibrary.amlegal.com/codes/san_francisco",
		  "offices":[{"name":"Planning Department","role":"planning","phone":"628-652-7300","url":"https://sfplanning.org","portal":null},
		             {"name":"  ","role":"x","phone":null,"url":null,"portal":null}]}}`)
	require.NoError(t, err)
	r := domain.SectionResult{Key: domain.JurisdictionKey}
	applyAnswer(&r, a, ports.SectionResponse{Grounded: true, Sources: []domain.Source{
		{URL: "https://sfplanning.org/zoning"}, {URL: "https://cheap-permits.us/sf"}}})
	j := r.Jurisdiction
	require.NotNil(t, j)
	require.Equal(t, "RH-1", j.ZoningDistrict)
	require.Equal(t, "1234/005", j.APN)
	require.Equal(t, []string{"sfplanning.org", "sfdbi.org", "sf.gov"}, j.OfficialDomains)
	require.Equal(t, []domain.JurisdictionOffice{{Name: "Planning Department", Role: "planning", Phone: "628-652-7300", URL: "https://sfplanning.org"}}, j.Offices)
	require.True(t, r.Sources[0].Official, "on the jurisdiction's own domain")
	require.False(t, r.Sources[1].Official)
	require.Equal(t, []string{"sfplanning.org", "sfdbi.org", "sf.gov", "codelibrary.amlegal.com"}, searchDomains(j))

	// An answer without the object, or with nothing in it, gives none.
	a.Jurisdiction = nil
	applyAnswer(&r, a, ports.SectionResponse{})
	require.Nil(t, r.Jurisdiction)
	a.Jurisdiction = &jurisdictionAnswer{OfficialDomains: []string{"not a host"}}
	applyAnswer(&r, a, ports.SectionResponse{})
	require.Nil(t, r.Jurisdiction)
}

func TestGroundingRedirectsAreJudgedByTheSiteTheyNameInTheirTitle(t *testing.T) {
	j := &domain.Jurisdiction{OfficialDomains: []string{"sjpermits.org"}}
	sources := []domain.Source{
		{URL: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZ1", Title: "sjpermits.org"},
		{URL: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZ2", Title: "cheap-permits.us"},
		{URL: "https://example.com/sjpermits", Title: "sjpermits.org"}, // only redirects are read by their title
	}
	markOfficial(sources, j)
	require.True(t, sources[0].Official)
	require.False(t, sources[1].Official)
	require.False(t, sources[2].Official)
}
