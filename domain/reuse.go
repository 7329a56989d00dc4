package domain

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Reuse: the sections that depend only on the jurisdiction (SectionSpec.
// JurisdictionWide) are taken from another job of the same jurisdiction
// instead of being researched again, when that job's result is recent,
// made with the same provider and model, and trustworthy. These are the
// rules; the stores find candidates and the worker applies them.

// SimulatedModel is the model name of the simulated (fake) provider.
const SimulatedModel = "simulated"

// Identity is the jurisdiction's normalized identity: state (two-letter
// code where the name is a US state's), county, city (or town) and first
// official domain, lower-cased and joined with "|", e.g.
// "ca|santa clara|san jose|sanjoseca.gov". Two jobs with the same identity
// are governed by the same codes. It is "" when the jurisdiction says too
// little to be told apart from others: no state, or neither a city nor a
// county.
func (j *Jurisdiction) Identity() string {
	if j == nil {
		return ""
	}
	state, county, city := normalizeState(j.State), normalizePlace(j.County, countyWords), normalizePlace(j.City, cityWords)
	if state == "" || (county == "" && city == "") {
		return ""
	}
	host := ""
	if d := NormalizeDomains(j.OfficialDomains); len(d) > 0 {
		host = d[0]
	}
	return strings.Join([]string{state, county, city, host}, "|")
}

// cityWords and countyWords are the words that name the kind of place, not
// the place: "City of San Jose" is "san jose", "Santa Clara County" is
// "santa clara".
var (
	cityWords   = []string{"city of ", "town of ", "village of ", "township of ", "borough of ", "city and county of "}
	countyWords = []string{"county of ", " county", " parish", " borough"}
)

// normalizePlace lower-cases and trims name, drops periods and commas
// ("St. Louis" is "st louis"), collapses spaces and strips the kind words.
func normalizePlace(name string, kinds []string) string {
	s := strings.ToLower(strings.NewReplacer(".", " ", ",", " ", "|", " ").Replace(name))
	s = strings.Join(strings.Fields(s), " ")
	for _, k := range kinds {
		switch {
		case strings.HasPrefix(k, " ") && strings.HasSuffix(s, k):
			s = strings.TrimSuffix(s, k)
		case !strings.HasPrefix(k, " ") && strings.HasPrefix(s, k):
			s = strings.TrimPrefix(s, k)
		}
	}
	return strings.TrimSpace(s)
}

// normalizeState is the state's two-letter code when name is a US state,
// DC or a territory (by code or by name), else the name normalized.
func normalizeState(name string) string {
	s := normalizePlace(name, []string{"state of ", "commonwealth of "})
	if len(s) == 2 {
		return s
	}
	if code, ok := stateCodes[s]; ok {
		return code
	}
	return s
}

var stateCodes = map[string]string{
	"alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca", "colorado": "co",
	"connecticut": "ct", "delaware": "de", "district of columbia": "dc", "washington dc": "dc", "washington d c": "dc",
	"florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il", "indiana": "in", "iowa": "ia",
	"kansas": "ks", "kentucky": "ky", "louisiana": "la", "maine": "me", "maryland": "md", "massachusetts": "ma",
	"michigan": "mi", "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne",
	"nevada": "nv", "new hampshire": "nh", "new jersey": "nj", "new mexico": "nm", "new york": "ny",
	"north carolina": "nc", "north dakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or",
	"pennsylvania": "pa", "rhode island": "ri", "south carolina": "sc", "south dakota": "sd", "tennessee": "tn",
	"texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa", "west virginia": "wv",
	"wisconsin": "wi", "wyoming": "wy", "puerto rico": "pr", "guam": "gu", "us virgin islands": "vi",
	"american samoa": "as", "northern mariana islands": "mp",
}

// ReuseWant is what a job asks of a section it would reuse: the section,
// the provider and model it would have researched with, and how recent the
// research must be.
type ReuseWant struct {
	Key             string
	Provider, Model string
	// NotBefore: the research must have been done at or after it.
	NotBefore time.Time
}

// ErrNotReusable is why CheckReuse refuses a section.
var ErrNotReusable = errors.New("section not reusable")

// ResearchedAt is when the section's content was last researched or
// verified: LastVerified on a reused section, else when it finished, or
// when the verification pass confirmed at least one of its findings, if
// that came later. A pass that confirmed nothing (all unverifiable) does
// not make the research any fresher.
func (s SectionResult) ResearchedAt() *time.Time {
	at := s.FinishedAt
	if s.LastVerified != nil {
		at = s.LastVerified
	}
	if s.VerifiedAt != nil && (at == nil || s.VerifiedAt.After(*at)) && confirmedAny(s.Findings) {
		at = s.VerifiedAt
	}
	return at
}

// confirmedAny reports whether a verification found any of findings
// stated by its sources.
func confirmedAny(findings []Finding) bool {
	for _, f := range findings {
		if f.Verdict == VerdictVerified {
			return true
		}
	}
	return false
}

// CheckReuse reports whether s, a section another job of the same
// jurisdiction saved, may be reused as w asks; the error wraps
// ErrNotReusable and says why not. A section is reusable when it is of a
// jurisdiction-wide kind, completed without error, made with w's provider
// and model, researched at or after w.NotBefore (a reused section counts
// from its original research, and must name it), and, unless it is
// simulated, grounded in sources with every finding supported and an
// outcome other than not_found (nothing found is worth asking again). A
// simulated section is reused only into a job that is simulated too: never
// into real research.
func CheckReuse(s SectionResult, w ReuseWant) error {
	spec, ok := LookupSection(w.Key)
	at := s.ResearchedAt()
	why := ""
	switch {
	case !ok || !spec.JurisdictionWide:
		why = fmt.Sprintf("section %q depends on more than the jurisdiction", w.Key)
	case s.Key != w.Key:
		why = fmt.Sprintf("section is %q, not %q", s.Key, w.Key)
	case s.Status != SectionCompleted || s.Error != "":
		why = fmt.Sprintf("section is %s", s.Status)
	case s.Provider != w.Provider || s.Model != w.Model:
		why = fmt.Sprintf("researched with %s/%s, not %s/%s", s.Provider, s.Model, w.Provider, w.Model)
	case IsSimulated(s) && w.Model != SimulatedModel:
		why = "simulated results are never reused into real research"
	case s.ReusedFrom != "" && s.LastVerified == nil:
		why = "reused without the time of its original research"
	case at == nil || at.Before(w.NotBefore):
		why = "researched too long ago"
	case IsSimulated(s):
		return nil
	case !s.Grounded || len(s.Sources) == 0:
		why = "not grounded in sources"
	case s.Outcome == OutcomeNotFound || s.Outcome == "":
		why = "nothing was found"
	}
	if why == "" {
		for _, f := range s.Findings {
			if !f.Supported {
				why = fmt.Sprintf("finding %q is not supported by its sources", f.Label)
				break
			}
			if f.Verdict == VerdictContradicted {
				why = fmt.Sprintf("finding %q is contradicted by its sources", f.Label)
				break
			}
		}
	}
	if why != "" {
		return fmt.Errorf("%w: %s", ErrNotReusable, why)
	}
	return nil
}

// Reused is s, which job fromJobID saved, as another job's section taken
// over at `at`: completed at once, costing nothing, naming the job that did
// the research (s's own origin when s was itself reused) and when that
// research was done.
func Reused(s SectionResult, fromJobID string, at time.Time) SectionResult {
	out := s
	if out.ReusedFrom == "" {
		out.ReusedFrom = fromJobID
	}
	out.LastVerified = s.ResearchedAt()
	out.Status, out.Error = SectionCompleted, ""
	out.Usage, out.LatencyMS, out.Attempts = Usage{}, 0, 0
	out.Jurisdiction = nil
	out.StartedAt, out.FinishedAt = &at, &at
	return out
}

// writeReusedMarkdown says, in a reused section, whose research it is and
// how old: "Reused from job X, last verified T."
func writeReusedMarkdown(b *strings.Builder, s SectionResult) {
	if s.ReusedFrom == "" {
		return
	}
	when := "at an unknown time"
	if s.LastVerified != nil {
		when = s.LastVerified.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(b, "\n_Reused from job %s, last verified %s._\n", mdText(s.ReusedFrom), when)
}
