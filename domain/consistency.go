package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// FlagInconsistent marks sections that disagree with each other.
const FlagInconsistent = "inconsistent"

// Consistency compares what the completed, non-simulated sections say in
// more than one place, without asking anyone: the zoning district (the
// jurisdiction's typed district and findings, zoning_use,
// dimensional_standards) and the code editions (adopted_codes against the
// code sections). Each disagreement is a red flag on the later section,
// naming both values. A value it cannot read (a district with no code such
// as "R-1", an edition without a year) is left out rather than guessed.
func Consistency(sections []SectionResult) []RedFlag {
	usable := make([]SectionResult, 0, len(sections))
	for _, s := range sections {
		if s.Status == SectionCompleted && !IsSimulated(s) {
			usable = append(usable, s)
		}
	}
	return append(districtFlags(usable), editionFlags(usable)...)
}

// districtSections are the sections that state the zoning district, in the
// order they are compared.
var districtSections = []string{JurisdictionKey, "zoning_use", "dimensional_standards"}

// districtCode finds a zoning district code in s: letters, then a digit,
// optionally hyphenated ("R-1-8", "RM-2", "C2", "RH-1(D)" gives "RH-1").
var districtCode = regexp.MustCompile(`\b[A-Z]{1,4}-?[0-9][A-Z0-9]*(?:-[A-Z0-9]+)*\b`)

func districtOf(s SectionResult) (string, bool) {
	if s.Key == JurisdictionKey && s.Jurisdiction != nil {
		if c := districtCode.FindString(strings.ToUpper(s.Jurisdiction.ZoningDistrict)); c != "" {
			return c, true
		}
	}
	for _, f := range s.Findings {
		label := strings.ToLower(f.Label)
		if !strings.Contains(label, "district") && !strings.Contains(label, "zoning") && !strings.Contains(label, "zone") {
			continue
		}
		if containsAny(label, []string{"overlay", "flood", "fire", "hazard", "rezoning", "office", "department"}) {
			continue
		}
		if c := districtCode.FindString(strings.ToUpper(f.Value)); c != "" {
			return c, true
		}
	}
	return "", false
}

func districtFlags(usable []SectionResult) []RedFlag {
	var flags []RedFlag
	firstKey, first := "", ""
	for _, key := range districtSections {
		i := slices.IndexFunc(usable, func(s SectionResult) bool { return s.Key == key })
		if i < 0 {
			continue
		}
		code, ok := districtOf(usable[i])
		switch {
		case !ok:
		case first == "":
			firstKey, first = key, code
		case normalizeDistrict(code) != normalizeDistrict(first):
			flags = append(flags, RedFlag{Section: key, Kind: FlagInconsistent,
				Message: fmt.Sprintf("zoning district %s differs from %s in %s", code, first, firstKey)})
		}
	}
	return flags
}

func normalizeDistrict(c string) string { return strings.ReplaceAll(c, "-", "") }

// codeFamilies names the model-code families an edition is matched by.
var codeFamilies = compileFamilies([]struct {
	family string
	words  []string
}{
	{"residential", []string{"residential code", "irc", "crc"}},
	{"energy", []string{"energy", "iecc", "title 24, part 6"}},
	{"fire", []string{"fire code", "ifc", "cfc"}},
	{"electrical", []string{"electrical", "nec", "nfpa 70"}},
	{"plumbing", []string{"plumbing", "ipc", "upc"}},
	{"mechanical", []string{"mechanical", "imc", "umc"}},
	{"building", []string{"building code", "ibc", "cbc"}},
})

type codeFamily struct {
	family string
	word   *regexp.Regexp // any of its words, whole
}

func compileFamilies(in []struct {
	family string
	words  []string
}) []codeFamily {
	out := make([]codeFamily, len(in))
	for i, f := range in {
		quoted := make([]string, len(f.words))
		for j, w := range f.words {
			quoted[j] = regexp.QuoteMeta(w)
		}
		out[i] = codeFamily{family: f.family, word: regexp.MustCompile(`\b(?:` + strings.Join(quoted, "|") + `)\b`)}
	}
	return out
}

var editionYear = regexp.MustCompile(`\b(19|20)[0-9]{2}\b`)

// edition reads a code edition as its family and year ("2022 California
// Building Code" is building, 2022); ok is false when either is missing.
func edition(s string) (family, year string, ok bool) {
	l := strings.ToLower(s)
	year = editionYear.FindString(l)
	if year == "" {
		return "", "", false
	}
	for _, f := range codeFamilies {
		if f.word.MatchString(l) {
			return f.family, year, true
		}
	}
	return "", "", false
}

func editionFlags(usable []SectionResult) []RedFlag {
	adopted := map[string]string{} // family -> "2025 California Building Code"
	adoptedYear := map[string]string{}
	for _, s := range usable {
		if s.Key != "adopted_codes" {
			continue
		}
		for _, f := range s.Findings {
			if fam, year, ok := edition(f.CodeEdition); ok && adopted[fam] == "" {
				adopted[fam], adoptedYear[fam] = strings.TrimSpace(f.CodeEdition), year
			}
		}
	}
	var flags []RedFlag
	for _, s := range usable {
		if s.Key == "adopted_codes" || !IsCodeSection(s.Key) {
			continue
		}
		seen := map[string]bool{}
		for _, f := range s.Findings {
			fam, year, ok := edition(f.CodeEdition)
			if !ok || adopted[fam] == "" || year == adoptedYear[fam] || seen[fam+year] {
				continue
			}
			seen[fam+year] = true
			flags = append(flags, RedFlag{Section: s.Key, Kind: FlagInconsistent,
				Message: fmt.Sprintf("cites %s, but adopted_codes says %s is in force", strings.TrimSpace(f.CodeEdition), adopted[fam])})
		}
	}
	return flags
}
