package domain

import (
	"net/url"
	"strings"
)

// officialHosts are publishers of adopted code text and official data that
// jurisdictions link to as their code of record.
var officialHosts = []string{
	"library.municode.com", "municode.com", "codelibrary.amlegal.com", "ecode360.com",
	"codepublishing.com", "codes.iccsafe.org", "generalcode.com", "codelibrary.nfpa.org",
	"msc.fema.gov", "hazards.fema.gov", "ascehazardtool.org",
}

// governmentSuffixes are top-level domains only governments can register.
var governmentSuffixes = []string{".gov", ".mil", ".gov.uk", ".gc.ca", ".gov.au"}

// usStates are the two-letter codes under .us that the locality-based
// namespace gives states, territories and DC (RFC 1480).
var usStates = strings.Fields(`al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn
	ms mo mt ne nv nh nj nm ny nc nd oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy as gu mp pr vi`)

// IsOfficialURL reports whether rawURL is an official source by a curated
// rule: a government domain (.gov, .mil and their foreign equivalents), a
// state or local government site in the .us locality namespace
// (ci.berkeley.ca.us, co.x.ny.us, www.state.nj.us; not a bare
// something.us, which anyone can register), or a host that publishes
// adopted code text for jurisdictions. A jurisdiction's own domains
// (sfplanning.org) are not official by this rule.
func IsOfficialURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, suffix := range governmentSuffixes {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	if isUSLocality(host) {
		return true
	}
	for _, h := range officialHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

// isUSLocality reports whether host is <name>.<state>.us with at least one
// label before the state: the namespace that only state and local
// governments (and a few schools and libraries) are delegated.
func isUSLocality(host string) bool {
	labels := strings.Split(host, ".")
	n := len(labels)
	if n < 3 || labels[n-1] != "us" {
		return false
	}
	for _, s := range usStates {
		if labels[n-2] == s {
			return labels[n-3] != ""
		}
	}
	return false
}
