package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/providerfake"
)

// The jurisdiction's official domains, as the jurisdiction section answers
// them (with a scheme and mixed case, which the app normalises).
var sanJoseDomains = []string{"sanjoseca.gov", "sjpermits.org"}

const (
	sjPermitsPage    = "https://www.sjpermits.org/permits/adu"
	cheapPermitsPage = "https://cheap-permits.us/san-jose-adu"
)

// jurisdictionScript answers the jurisdiction section with San Jose's
// domains; every other section finds the city's permit site and a lookalike
// .us site, except zoning_use, which finds only the lookalike, so that its
// narrowed search comes back empty and it searches the open web.
func jurisdictionScript(t *testing.T) providerfake.Script {
	var answer map[string]any
	b, _ := json.Marshal(providerfake.ValidAnswer("jurisdiction"))
	require.NoError(t, json.Unmarshal(b, &answer))
	answer["jurisdiction"] = map[string]any{
		"city": "San Jose", "county": "Santa Clara", "state": "CA", "apn": "467-20-078", "zoning_district": "DC",
		"official_domains": []string{"https://www.SanJoseCA.gov/", "sjpermits.org"},
		"code_host_url":    "https://library.municode.com/ca/san_jose/codes/code_of_ordinances",
		"offices": []any{map[string]any{"name": "Planning, Building and Code Enforcement", "role": "building",
			"phone": "408-535-3555", "url": "https://www.sanjoseca.gov/your-government/departments/planning-building-code-enforcement",
			"portal": "https://www.sjpermits.org/"}},
	}
	jurisdiction, _ := json.Marshal(answer)
	lookalike := providerfake.Source{URL: cheapPermitsPage, Title: "cheap-permits.us", Snippet: "Setbacks for detached ADUs..."}
	return func(c providerfake.Call) providerfake.Reply {
		switch c.Section {
		case "jurisdiction":
			return providerfake.Reply{Content: string(jurisdiction)}
		case "zoning_use":
			return providerfake.Reply{Sources: []providerfake.Source{lookalike}}
		}
		return providerfake.Reply{Sources: []providerfake.Source{
			{URL: sjPermitsPage, Title: "sjpermits.org", Snippet: "Setbacks for detached ADUs..."}, lookalike}}
	}
}

// TestJurisdictionDomainsNarrowSearchesAndMarkSourcesOfficial: for each
// provider, the jurisdiction section's official domains reach the fake as
// the provider's domain filter on every other section; a section whose
// narrowed search finds nothing is asked once more without it; and a source
// is official when it is on those domains (sjpermits.org), not when it is a
// lookalike .us site.
func TestJurisdictionDomainsNarrowSearchesAndMarkSourcesOfficial(t *testing.T) {
	for p, want := range expectations() {
		if !want.grounded {
			continue // no search, nothing to narrow
		}
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, p, jurisdictionScript(t))
			env, _ := providerEnv(t, srv, providerKey, want.env...)
			r, rep := checkReport(t, env, p, "--sections", "jurisdiction,zoning_use,dimensional_standards")
			require.Equal(t, 0, r.code, r.stderr)

			narrowed := append(append([]string{}, sanJoseDomains...), "library.municode.com")
			var zoning []providerfake.Call
			for _, c := range srv.Calls() {
				require.Empty(t, c.Problems, "%s: the request follows the provider's API", c.Section)
				switch c.Section {
				case "jurisdiction":
					require.Empty(t, c.AllowedDomains, "the jurisdiction section searches the open web")
				case "zoning_use":
					zoning = append(zoning, c)
				default:
					require.Equal(t, narrowed, c.AllowedDomains, c.Section)
				}
			}
			require.Len(t, zoning, 2, "zoning_use: narrowed, then once more on the open web")
			require.Equal(t, narrowed, zoning[0].AllowedDomains)
			require.Empty(t, zoning[1].AllowedDomains)

			var full struct {
				Sections []struct {
					Key          string `json:"key"`
					Jurisdiction *struct {
						ZoningDistrict  string   `json:"zoning_district"`
						APN             string   `json:"apn"`
						OfficialDomains []string `json:"official_domains"`
						Offices         []struct {
							Name   string `json:"name"`
							Portal string `json:"portal"`
						} `json:"offices"`
					} `json:"jurisdiction"`
				} `json:"sections"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &full), "stdout is the report alone")
			j := full.Sections[0].Jurisdiction
			require.Equal(t, "jurisdiction", full.Sections[0].Key)
			require.NotNil(t, j, "the jurisdiction section carries the typed jurisdiction")
			require.Equal(t, sanJoseDomains, j.OfficialDomains)
			require.Equal(t, "DC", j.ZoningDistrict)
			require.Equal(t, "467-20-078", j.APN)
			require.Equal(t, "https://www.sjpermits.org/", j.Offices[0].Portal)

			official := func(key string) map[string]bool {
				out := map[string]bool{}
				for _, s := range rep.section(t, key).Sources {
					site := s.URL
					if strings.Contains(site, "vertexaisearch") {
						site = s.Title // Gemini's grounding redirects name their site in the title
					}
					out[site] = s.Official
				}
				return out
			}
			lookalike, city := cheapPermitsPage, sjPermitsPage
			if p == providerfake.Gemini {
				lookalike, city = "cheap-permits.us", "sjpermits.org"
			}
			require.Equal(t, map[string]bool{lookalike: false}, official("zoning_use"),
				"the open search found the lookalike: not official")
			require.Equal(t, map[string]bool{city: true}, official("dimensional_standards"),
				"the narrowed search found only the city's own site: official")
		})
	}
}
