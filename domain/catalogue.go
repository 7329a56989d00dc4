package domain

import (
	"fmt"
	"strings"
)

// SectionSpec describes one report section: what it answers and what the
// research should look for. The agent builds its prompts from these.
type SectionSpec struct {
	Key      string
	Title    string
	Ordinal  int      // 1-based position in the report
	Question string   // what the section answers
	LookFor  []string // specific facts and places to look
	// JurisdictionWide sections depend only on the jurisdiction, not on the
	// parcel: a recent result from another job of the same jurisdiction is
	// reused instead of researched again (see CheckReuse).
	JurisdictionWide bool
}

// JurisdictionKey is the section that runs first; its result is the context
// for all others.
const JurisdictionKey = "jurisdiction"

var catalogue = []SectionSpec{
	{Key: JurisdictionKey, Title: "Jurisdiction and authorities having jurisdiction",
		Question: "Which government has land-use and building authority over this address, and where is its official code published?",
		LookFor: []string{"parcel id / APN if findable", "incorporated city or unincorporated county, and the state",
			"the building, planning/zoning, fire-marshal and floodplain offices (the AHJ) with their web pages",
			"where the official municipal/county code text is published (e.g. the code host)", "the zoning district if the parcel viewer shows it"}},
	{Key: "adopted_codes", JurisdictionWide: true, Title: "Adopted building codes",
		Question: "Which model-code editions are in force here, since when, and with which state and local amendments?",
		LookFor: []string{"IBC, IRC, IECC, NEC (NFPA 70), IPC/UPC, IMC/UMC, IFC editions and effective dates",
			"state building code adoption and local amendment ordinances", "pending code cycle changes"}},
	{Key: "zoning_use", Title: "Zoning district and permitted use",
		Question: "What zoning district applies and is the intended use permitted by right, conditional or prohibited?",
		LookFor: []string{"zoning district and map", "use table entries for residential and common uses", "nonconforming status",
			"pending rezonings or plan amendments", "state preemption such as ADU or lot-split laws"}},
	{Key: "dimensional_standards", Title: "Dimensional standards",
		Question: "What setbacks, height limits, FAR, lot coverage and density standards apply in this district?",
		LookFor: []string{"front, side and rear setbacks", "maximum height and how height is measured", "floor area ratio",
			"lot coverage", "minimum lot size and width", "density limits", "open space requirements"}},
	{Key: "parking_access", Title: "Parking and access",
		Question: "What parking, loading and driveway rules apply?",
		LookFor: []string{"parking minimums or maximums and exemptions (transit proximity, state law)", "EV-capable and accessible stalls",
			"loading requirements", "driveway width, curb-cut and access rules"}},
	{Key: "overlays_historic", Title: "Overlays and historic districts",
		Question: "Which overlay districts cover the parcel and what approvals do they trigger?",
		LookFor: []string{"historic district or landmark status", "design review", "coastal zone", "airport influence area",
			"hillside, slope or ridgeline overlays", "specific or neighborhood plans"}},
	{Key: "hazards_design_criteria", Title: "Hazards and design criteria",
		Question: "What natural-hazard designations and climatic/geographic design criteria apply?",
		LookFor: []string{"FEMA flood zone and base flood elevation (FIRM panel)", "wildfire / WUI designation",
			"ultimate design wind speed and exposure", "ground snow load", "seismic design category", "frost line depth",
			"the jurisdiction's climatic and geographic design criteria table"}},
	{Key: "occupancy_construction", Title: "Occupancy and construction type",
		Question: "Does the IRC or IBC path apply, and what occupancy, construction type and allowable height and area follow?",
		LookFor: []string{"IRC vs IBC applicability", "occupancy classification and occupant load", "construction type",
			"allowable height, stories and area", "existing building code for alterations and additions"}},
	{Key: "fire_life_safety", JurisdictionWide: true, Title: "Fire and life safety",
		Question: "What sprinkler, alarm, fire-resistance, egress and fire-access requirements apply?",
		LookFor: []string{"sprinkler and fire-alarm triggers including local amendments", "fire-resistance ratings and separations",
			"egress requirements", "fire apparatus access and hydrant / water supply requirements"}},
	{Key: "accessibility", JurisdictionWide: true, Title: "Accessibility",
		Question: "Which accessibility codes apply and how are they scoped, including for alterations?",
		LookFor: []string{"state accessibility code and ICC A117.1 edition", "ADA and Fair Housing Act scoping",
			"alteration and path-of-travel triggers", "whether it applies to one- and two-family dwellings"}},
	{Key: "energy_code", JurisdictionWide: true, Title: "Energy code",
		Question: "Which energy code and climate zone apply, and are there stretch codes or solar/EV mandates?",
		LookFor: []string{"energy code edition and compliance paths", "IECC climate zone", "stretch or reach codes",
			"solar-ready / solar PV mandates", "EV-ready requirements", "all-electric or gas restrictions"}},
	{Key: "utilities_site", Title: "Utilities and site",
		Question: "How is the site served and what site-level utility rules and fees apply?",
		LookFor: []string{"public sewer or septic and who regulates it", "public water or well", "stormwater management thresholds",
			"easements", "connection, capacity and impact fees"}},
	{Key: "permitting_process", JurisdictionWide: true, Title: "Permitting process",
		Question: "Which permits are needed, what must be submitted, and how long does review take?",
		LookFor: []string{"permit types needed", "submittal requirements", "review tiers and typical review times",
			"fee basis", "required inspections", "contacts: office, phone, online portal"}},
}

func init() {
	for i := range catalogue {
		catalogue[i].Ordinal = i + 1
	}
}

// Catalogue returns the 13 sections in report order. The slice is a copy.
func Catalogue() []SectionSpec {
	out := make([]SectionSpec, len(catalogue))
	copy(out, catalogue)
	return out
}

// SectionKeys returns every section key in report order.
func SectionKeys() []string {
	keys := make([]string, len(catalogue))
	for i, s := range catalogue {
		keys[i] = s.Key
	}
	return keys
}

// LookupSection returns the spec for key.
func LookupSection(key string) (SectionSpec, bool) {
	for _, s := range catalogue {
		if s.Key == key {
			return s, true
		}
	}
	return SectionSpec{}, false
}

// NormalizeSections validates requested section keys and returns them in
// catalogue order without duplicates. An empty request means all sections.
// The jurisdiction section is always included: every other section depends
// on it.
func NormalizeSections(keys []string) ([]string, error) {
	if len(keys) == 0 {
		return SectionKeys(), nil
	}
	want := map[string]bool{JurisdictionKey: true}
	for i, k := range keys {
		if _, ok := LookupSection(k); !ok {
			return nil, Invalid(fmt.Sprintf("sections[%d]", i),
				fmt.Sprintf("unknown section key %q; valid keys: %s", k, strings.Join(SectionKeys(), ", ")))
		}
		want[k] = true
	}
	out := make([]string, 0, len(want))
	for _, s := range catalogue {
		if want[s.Key] {
			out = append(out, s.Key)
		}
	}
	return out, nil
}
