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

// IsOfficialURL reports whether rawURL looks like an official source: a
// government site (.gov, .mil, state .us domains) or a host that publishes
// adopted code text for jurisdictions.
func IsOfficialURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(strings.TrimPrefix(u.Hostname(), "www."))
	for _, suffix := range []string{".gov", ".mil", ".us", ".gov.uk", ".gc.ca", ".gov.au"} {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	for _, h := range officialHosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}
