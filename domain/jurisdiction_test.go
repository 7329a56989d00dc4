package domain

import (
	"slices"
	"testing"
)

func TestNormalizeDomains(t *testing.T) {
	got := NormalizeDomains([]string{
		"https://SFPlanning.org/project/adus", "www.sfdbi.org", "sfdbi.org", "sf.gov:443",
		"", "localhost", "10.0.0.1", "gov", "ca.us", "bad_host.org", "-x.org", "http://", "sfplanning.org.",
	})
	want := []string{"sfplanning.org", "sfdbi.org", "sf.gov"}
	if !slices.Equal(got, want) {
		t.Fatalf("NormalizeDomains = %q, want %q", got, want)
	}
	var many []string
	for i := range MaxOfficialDomains + 5 {
		many = append(many, string(rune('a'+i))+"city.org")
	}
	if n := len(NormalizeDomains(many)); n != MaxOfficialDomains {
		t.Fatalf("kept %d domains, want at most %d", n, MaxOfficialDomains)
	}
}

func TestIsOfficialFor(t *testing.T) {
	j := &Jurisdiction{OfficialDomains: []string{"sfplanning.org", "sfdbi.org"}}
	cases := map[string]bool{
		"https://sfplanning.org/project/adus":  true,
		"https://www.sfplanning.org/":          true, // a subdomain
		"https://permits.sfdbi.org/x":          true,
		"https://sf.gov/building":              true, // the curated rule still holds
		"https://cheap-permits.us/adu":         false,
		"https://notsfplanning.org/":           false, // not a subdomain
		"https://sfplanning.org.evil.com/":     false,
		"https://www.zillow.com/homedetails/1": false,
	}
	for u, want := range cases {
		if got := IsOfficialFor(u, j); got != want {
			t.Errorf("IsOfficialFor(%q) = %v, want %v", u, got, want)
		}
	}
	if IsOfficialFor("https://sfplanning.org/", nil) {
		t.Error("without a jurisdiction, sfplanning.org is not official")
	}
}
