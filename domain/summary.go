package domain

import (
	"fmt"
	"strings"
)

// Summary is what a report leads with: key facts, red flags, the offices to
// contact, and whether any of it is simulated. It is derived from the
// jurisdiction section's typed Jurisdiction where it has one, else from the
// sections' findings by keyword heuristics (see factRules, Summarize); it
// never adds a value that the research did not give.
type Summary struct {
	// Simulated is true when any section came from the simulated provider.
	Simulated         bool      `json:"simulated"`
	SimulatedSections []string  `json:"simulated_sections,omitempty"`
	KeyFacts          []KeyFact `json:"key_facts"`
	RedFlags          []RedFlag `json:"red_flags"`
	Offices           []Office  `json:"offices"`
}

// KeyFact is one headline fact. Found is false, and Value "not found", when
// no finding gave it.
type KeyFact struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	Value string `json:"value"`
	Found bool   `json:"found"`
	// Section is the key of the section the value comes from; SourceIDs are
	// that section's sources the findings cite.
	Section   string `json:"section,omitempty"`
	SourceIDs []int  `json:"source_ids,omitempty"`
}

// RedFlag kinds.
const (
	FlagOverlay           = "overlay"
	FlagHazard            = "hazard"
	FlagNonconforming     = "nonconforming"
	FlagNeedsVerification = "needs_verification"
	FlagLowConfidence     = "low_confidence"
	FlagUnsupported       = "unsupported_findings"
	FlagFailed            = "section_failed"
	// FlagInconsistent (consistency.go): two sections disagree.
)

// RedFlag is something to look at before relying on the report, naming the
// section it comes from.
type RedFlag struct {
	Section string `json:"section"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Office is an office to contact, with the sections that name it. Role,
// Phone and URL are set when the jurisdiction section's typed Jurisdiction
// lists it.
type Office struct {
	Name     string   `json:"name"`
	Role     string   `json:"role,omitempty"`
	Phone    string   `json:"phone,omitempty"`
	URL      string   `json:"url,omitempty"`
	Sections []string `json:"sections"`
}

// NotFound is the value of a key fact that no finding gave.
const NotFound = "not found"

// factRule finds a key fact: the first of its sections (in order) with a
// finding whose label contains one of keywords and none of exclude. With
// all, every matching finding of that section is joined.
type factRule struct {
	key, label string
	sections   []string
	keywords   []string
	exclude    []string
	all        bool
}

var factRules = []factRule{
	{key: "jurisdiction", label: "Jurisdiction", sections: []string{JurisdictionKey},
		keywords: []string{"jurisdiction", "city", "county", "state", "incorporated", "municipality"},
		exclude:  []string{"office", "department", "division", "phone", "contact", "portal", "code host", "website"}, all: true},
	{key: "zoning_district", label: "Zoning district", sections: []string{"zoning_use", JurisdictionKey},
		keywords: []string{"zoning district", "zone district", "base zone", "zoning designation", "zoning"},
		exclude:  []string{"office", "department", "rezoning", "overlay"}},
	{key: "apn", label: "Parcel number (APN)", sections: []string{JurisdictionKey, "zoning_use"},
		keywords: []string{"apn", "parcel number", "assessor", "parcel id", "parcel"}},
	{key: "code_editions", label: "Adopted code editions", sections: []string{"adopted_codes"},
		keywords: []string{"code", "edition", "ibc", "irc", "iecc", "nec", "ipc", "ifc"}, all: true},
	{key: "flood_zone", label: "Flood zone", sections: []string{"hazards_design_criteria", "overlays_historic"},
		keywords: []string{"flood"}},
	{key: "historic", label: "Historic status", sections: []string{"overlays_historic"},
		keywords: []string{"historic", "landmark", "preservation"}},
}

// maxJoined caps how many findings a joined key fact shows.
const maxJoined = 6

// IsSimulated reports whether s came from the simulated provider, which
// names its model "simulated" and starts its summaries with "[SIMULATED]".
func IsSimulated(s SectionResult) bool {
	return s.Model == "simulated" || strings.HasPrefix(strings.TrimSpace(s.Summary), "[SIMULATED]")
}

// Summary derives the report's summary from its sections.
func (r Report) Summary() Summary { return Summarize(r.Sections) }

// Summarize derives key facts, red flags and offices from sections. Key
// facts and offices come only from completed sections that are not
// simulated, so a simulated value is never shown as a fact.
func Summarize(sections []SectionResult) Summary {
	var sum Summary
	usable := make([]SectionResult, 0, len(sections))
	for _, s := range sections {
		if IsSimulated(s) {
			sum.Simulated = true
			sum.SimulatedSections = append(sum.SimulatedSections, s.Key)
		} else if s.Status == SectionCompleted {
			usable = append(usable, s)
		}
	}
	juris := typedJurisdiction(usable)
	for _, rule := range factRules {
		fact, ok := typedFact(rule, juris)
		if !ok {
			fact = rule.find(usable)
		}
		sum.KeyFacts = append(sum.KeyFacts, fact)
	}
	sum.RedFlags = []RedFlag{}
	for _, s := range sections {
		sum.RedFlags = append(sum.RedFlags, redFlags(s)...)
	}
	sum.RedFlags = append(sum.RedFlags, Consistency(sections)...)
	sum.Offices = offices(sections)
	return sum
}

// typedJurisdiction is the completed, non-simulated jurisdiction section
// among usable when it carries a typed Jurisdiction.
func typedJurisdiction(usable []SectionResult) *SectionResult {
	for i, s := range usable {
		if s.Key == JurisdictionKey && s.Jurisdiction != nil {
			return &usable[i]
		}
	}
	return nil
}

// typedFact is the key fact of rule taken from the typed Jurisdiction of s
// (jurisdiction, zoning district, APN); ok is false when s is nil, the rule
// is not one of these, or the Jurisdiction leaves it empty. The fact cites
// the section's findings whose value contains the typed value.
func typedFact(rule factRule, s *SectionResult) (KeyFact, bool) {
	if s == nil {
		return KeyFact{}, false
	}
	j := s.Jurisdiction
	var parts, values []string
	switch rule.key {
	case "jurisdiction":
		for _, p := range [][2]string{{"City", j.City}, {"County", j.County}, {"State", j.State}} {
			if v := strings.TrimSpace(p[1]); v != "" {
				parts = append(parts, p[0]+": "+v)
				values = append(values, v)
			}
		}
	case "zoning_district":
		if v := strings.TrimSpace(j.ZoningDistrict); v != "" {
			parts, values = []string{v}, []string{v}
		}
	case "apn":
		if v := strings.TrimSpace(j.APN); v != "" {
			parts, values = []string{v}, []string{v}
		}
	}
	if len(parts) == 0 {
		return KeyFact{}, false
	}
	var ids []int
	for _, f := range s.Findings {
		fv := strings.ToLower(f.Value)
		for _, v := range values {
			if strings.Contains(fv, strings.ToLower(v)) {
				ids = appendNew(ids, f.SourceIDs...)
				break
			}
		}
	}
	return KeyFact{Key: rule.key, Label: rule.label, Value: strings.Join(parts, "; "), Found: true,
		Section: s.Key, SourceIDs: ids}, true
}

func (rule factRule) find(sections []SectionResult) KeyFact {
	fact := KeyFact{Key: rule.key, Label: rule.label, Value: NotFound}
	for _, key := range rule.sections {
		for _, s := range sections {
			if s.Key != key {
				continue
			}
			var values []string
			var ids []int
			for _, f := range s.Findings {
				if !rule.matches(f) || len(values) == maxJoined {
					continue
				}
				values = append(values, factValue(rule, f))
				ids = appendNew(ids, f.SourceIDs...)
				if !rule.all {
					break
				}
			}
			if len(values) > 0 {
				fact.Value, fact.Found, fact.Section, fact.SourceIDs = strings.Join(values, "; "), true, s.Key, ids
				return fact
			}
		}
	}
	return fact
}

func (rule factRule) matches(f Finding) bool {
	label := strings.ToLower(f.Label)
	if strings.TrimSpace(f.Value) == "" || containsAny(label, rule.exclude) {
		return false
	}
	return containsAny(label, rule.keywords)
}

// factValue labels each part of a joined fact ("City: San Jose") and
// prefers a code finding's edition and effective date.
func factValue(rule factRule, f Finding) string {
	v := strings.TrimSpace(f.Value)
	if f.CodeEdition != "" {
		v = f.CodeEdition
		if f.EffectiveDate != "" {
			v += " (effective " + f.EffectiveDate + ")"
		}
	}
	if rule.all {
		return strings.TrimSpace(f.Label) + ": " + v
	}
	return v
}

// Hazard and overlay heuristics: a finding of the overlays or hazards
// section is a red flag unless its value says there is none (or, for
// flood, a minimal-hazard zone X); any finding mentioning nonconformity is
// one unless negated. Simulated sections give no flags at all but a
// failure: the report's banner covers them.
var (
	hazardWords     = []string{"flood", "wildfire", "wui", "fire hazard", "landslide", "liquefaction", "fault", "tsunami", "coastal", "sea level", "erosion"}
	negatedWords    = []string{"none", "no ", "not ", "n/a", "zone x", "minimal"}
	nonconformWords = []string{"nonconforming", "non-conforming", "nonconformity", "non-conformity"}
)

func redFlags(s SectionResult) []RedFlag {
	flag := func(kind, format string, args ...any) RedFlag {
		return RedFlag{Section: s.Key, Kind: kind, Message: fmt.Sprintf(format, args...)}
	}
	if s.Status == SectionFailed {
		msg := "the section failed"
		if s.Error != "" {
			msg += ": " + s.Error
		}
		return []RedFlag{flag(FlagFailed, "%s", msg)}
	}
	// A simulated section's low confidence and unsupported findings are
	// what simulation means: the banner says so once, not three times a
	// section.
	if s.Status != SectionCompleted || IsSimulated(s) {
		return nil
	}
	flags := append(verificationFlags(s), findingFlags(s)...)
	if s.NeedsVerification {
		with := s.VerifyWith
		if with == "" {
			with = "the local building department"
		}
		flags = append(flags, flag(FlagNeedsVerification, "verify with %s", with))
	}
	if s.Confidence == ConfidenceLow {
		flags = append(flags, flag(FlagLowConfidence, "low confidence: %s", orDash(s.ConfidenceReason)))
	}
	if n := unsupportedCount(s); n > 0 {
		flags = append(flags, flag(FlagUnsupported, "%d of %d findings are not supported by a cited source", n, len(s.Findings)))
	}
	return flags
}

func findingFlags(s SectionResult) []RedFlag {
	var flags []RedFlag
	for _, f := range s.Findings {
		label, value := strings.ToLower(f.Label), strings.ToLower(strings.TrimSpace(f.Value))
		negated := hasAnyPrefix(value, negatedWords) || strings.Contains(value, "zone x")
		kind := ""
		switch {
		case negated:
		case containsAny(label+" "+value, nonconformWords):
			kind = FlagNonconforming
		case s.Key == "overlays_historic":
			kind = FlagOverlay
		case s.Key == "hazards_design_criteria" && containsAny(label, hazardWords):
			kind = FlagHazard
		}
		if kind != "" {
			flags = append(flags, RedFlag{Section: s.Key, Kind: kind, Message: strings.TrimSpace(f.Label) + ": " + strings.TrimSpace(f.Value)})
		}
	}
	return flags
}

func unsupportedCount(s SectionResult) int {
	n := 0
	for _, f := range s.Findings {
		if !f.Supported {
			n++
		}
	}
	return n
}

// officeWords pick the jurisdiction section's findings that name an office.
var officeWords = []string{"office", "department", "division", "authority", "agency", "ahj", "fire marshal", "administrator", "bureau", "permit center"}

// offices lists the jurisdiction's offices, then every section's
// verify_with (simulated sections name no office), deduplicated case- and punctuation-insensitively, in
// first-seen order. The jurisdiction's offices are those of its typed
// Jurisdiction (with role, phone and URL) when it lists any, else the
// findings that name an office.
func offices(sections []SectionResult) []Office {
	out := []Office{}
	index := map[string]int{}
	add := func(o Office, section string) {
		o.Name = strings.TrimSpace(o.Name)
		k := officeKey(o.Name)
		if k == "" {
			return
		}
		if i, ok := index[k]; ok {
			if !containsString(out[i].Sections, section) {
				out[i].Sections = append(out[i].Sections, section)
			}
			out[i].Role = cmpOr(out[i].Role, o.Role)
			out[i].Phone = cmpOr(out[i].Phone, o.Phone)
			out[i].URL = cmpOr(out[i].URL, o.URL)
			return
		}
		index[k] = len(out)
		o.Sections = []string{section}
		out = append(out, o)
	}
	for _, s := range sections {
		if s.Key != JurisdictionKey || s.Status != SectionCompleted || IsSimulated(s) {
			continue
		}
		if s.Jurisdiction != nil && len(s.Jurisdiction.Offices) > 0 {
			for _, o := range s.Jurisdiction.Offices {
				add(Office{Name: o.Name, Role: strings.TrimSpace(o.Role), Phone: strings.TrimSpace(o.Phone),
					URL: strings.TrimSpace(cmpOr(o.URL, o.Portal))}, s.Key)
			}
			continue
		}
		for _, f := range s.Findings {
			if containsAny(strings.ToLower(f.Label), officeWords) {
				add(Office{Name: f.Value}, s.Key)
			}
		}
	}
	for _, s := range sections {
		if s.Status == SectionCompleted && !IsSimulated(s) {
			add(Office{Name: s.VerifyWith}, s.Key)
		}
	}
	return out
}

// cmpOr is a unless it is blank, else b.
func cmpOr(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}

func officeKey(name string) string {
	f := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	})
	return strings.Join(f, " ")
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) || s == strings.TrimSpace(p) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func appendNew(ids []int, more ...int) []int {
	for _, id := range more {
		found := false
		for _, x := range ids {
			found = found || x == id
		}
		if !found {
			ids = append(ids, id)
		}
	}
	return ids
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "no reason given"
	}
	return s
}
