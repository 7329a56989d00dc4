package domain

import "testing"

func TestIsOfficialURL(t *testing.T) {
	cases := map[string]bool{
		"https://www.sf.gov/departments/building-inspection":  true,
		"https://dcra.dc.gov/service/building-permits":        true,
		"https://library.municode.com/ca/san_jose/codes/code": true,
		"https://codes.iccsafe.org/content/IBC2021P1":         true,
		"https://www.ci.portland.or.us/bds":                   true,
		"https://www.zillow.com/homedetails/123":              false,
		"https://gov.example.com/":                            false,
		"not a url":                                           false,
	}
	for u, want := range cases {
		if got := IsOfficialURL(u); got != want {
			t.Errorf("IsOfficialURL(%q) = %v, want %v", u, got, want)
		}
	}
}
