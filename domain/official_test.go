package domain

import "testing"

func TestIsOfficialURL(t *testing.T) {
	cases := map[string]bool{
		"https://www.sf.gov/departments/building-inspection":  true,
		"https://dcra.dc.gov/service/building-permits":        true,
		"https://www.army.mil/":                               true,
		"https://library.municode.com/ca/san_jose/codes/code": true,
		"https://codes.iccsafe.org/content/IBC2021P1":         true,
		"https://ci.berkeley.ca.us/permits":                   true,
		"https://www.ci.portland.or.us/bds":                   true,
		"https://co.suffolk.ny.us/":                           true,
		"https://www.state.nj.us/dca":                         true,
		"https://cheap-permits.us/adu":                        false, // anyone can register a bare .us
		"https://www.cheap-permits.us/adu":                    false,
		"https://permits.example.us/":                         false, // not a state label
		"https://ca.us/":                                      false,
		// A city's own .org site is official only through the jurisdiction
		// section's official_domains, not by this rule.
		"https://sfplanning.org/project/adus":    false,
		"https://www.zillow.com/homedetails/123": false,
		"https://gov.example.com/":               false,
		"https://example.gov.evil.com/":          false,
		"not a url":                              false,
	}
	for u, want := range cases {
		if got := IsOfficialURL(u); got != want {
			t.Errorf("IsOfficialURL(%q) = %v, want %v", u, got, want)
		}
	}
}
