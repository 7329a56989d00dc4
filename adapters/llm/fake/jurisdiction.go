package fake

import (
	"strings"
	"unicode"
)

// simulatedJurisdiction is the typed jurisdiction the fake's jurisdiction
// section returns: the city and state read from the address's last two
// comma-separated parts ("..., San Jose, CA 95113"), nothing else (no
// county, domains, offices or zoning: those would need research). It gives
// fake jobs a jurisdiction identity, so that reuse works between them as
// between real jobs; the section stays simulated ([SIMULATED] summary,
// model "simulated"), so the report never shows it as a fact and it is
// never reused into real research. Nil when the address has no such parts.
func simulatedJurisdiction(address string) map[string]any {
	parts := strings.Split(address, ",")
	if len(parts) < 3 {
		return nil
	}
	city := strings.TrimSpace(parts[len(parts)-2])
	state := strings.TrimRightFunc(strings.TrimSpace(parts[len(parts)-1]), func(r rune) bool {
		return unicode.IsDigit(r) || r == '-' || unicode.IsSpace(r) // the ZIP code
	})
	if city == "" || state == "" {
		return nil
	}
	return map[string]any{"city": city, "state": state, "county": "", "apn": "", "zoning_district": "",
		"official_domains": []string{}, "code_host_url": "", "offices": []any{}}
}
