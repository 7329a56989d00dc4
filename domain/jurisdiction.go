package domain

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// Jurisdiction is what the jurisdiction section found about who governs a
// property, as data the other sections use: its official domains mark their
// sources official and narrow their searches.
type Jurisdiction struct {
	City           string `json:"city,omitempty"`
	County         string `json:"county,omitempty"`
	State          string `json:"state,omitempty"`
	APN            string `json:"apn,omitempty"` // assessor's parcel number, when found
	ZoningDistrict string `json:"zoning_district,omitempty"`
	// OfficialDomains are the jurisdiction's own hosts (sfplanning.org),
	// normalised by NormalizeDomains.
	OfficialDomains []string             `json:"official_domains,omitempty"`
	CodeHostURL     string               `json:"code_host_url,omitempty"` // where the adopted code text is published
	Offices         []JurisdictionOffice `json:"offices,omitempty"`
}

// JurisdictionOffice is an office to contact: building, planning, fire, floodplain.
type JurisdictionOffice struct {
	Name   string `json:"name"`
	Role   string `json:"role,omitempty"`
	Phone  string `json:"phone,omitempty"`
	URL    string `json:"url,omitempty"`
	Portal string `json:"portal,omitempty"` // the online permit portal, when it has one
}

// MaxOfficialDomains bounds the list: the providers' filters take few
// domains (Perplexity 20), and a longer list is not a jurisdiction's own.
const MaxOfficialDomains = 20

// NormalizeDomains returns the hosts of in, lower-cased, without scheme,
// port, path or a leading "www.", deduplicated, in order, at most
// MaxOfficialDomains. Entries that are not plausible public host names (no
// dot, an IP address, a bare public suffix such as "gov" or "ca.us", bad
// characters) are dropped.
func NormalizeDomains(in []string) []string {
	var out []string
	for _, raw := range in {
		host := normalizeHost(raw)
		if host == "" || slices.Contains(out, host) {
			continue
		}
		out = append(out, host)
		if len(out) == MaxOfficialDomains {
			break
		}
	}
	return out
}

func normalizeHost(raw string) string {
	s := strings.ToLower(strings.TrimSpace(raw))
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	host := strings.TrimPrefix(strings.TrimSuffix(u.Hostname(), "."), "www.")
	if net.ParseIP(host) != nil || !validHostname(host) {
		return ""
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 || isBareSuffix(host) {
		return ""
	}
	return host
}

func validHostname(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// isBareSuffix reports whether host is a suffix under which anyone or every
// government registers (gov.uk, ca.us, co.uk), not a site of its own.
func isBareSuffix(host string) bool {
	for _, s := range governmentSuffixes {
		if "."+host == s {
			return true
		}
	}
	labels := strings.Split(host, ".")
	if len(labels) == 2 && labels[1] == "us" && slices.Contains(usStates, labels[0]) {
		return true
	}
	return slices.Contains([]string{"co.uk", "com.au", "org.uk"}, host)
}

// HostIn reports whether rawURL's host is one of domains or a subdomain of
// one; domains are as NormalizeDomains returns them.
func HostIn(rawURL string, domains []string) bool {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// IsOfficialFor reports whether rawURL is official by the curated rule of
// IsOfficialURL or because it is on one of the jurisdiction's own domains.
func IsOfficialFor(rawURL string, j *Jurisdiction) bool {
	if IsOfficialURL(rawURL) {
		return true
	}
	return j != nil && HostIn(rawURL, j.OfficialDomains)
}
