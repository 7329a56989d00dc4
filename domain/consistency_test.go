package domain

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestConsistencyFlagsADistrictThatDiffers(t *testing.T) {
	j := completed(JurisdictionKey, Finding{Label: "City", Value: "San Jose"})
	j.Jurisdiction = &Jurisdiction{City: "San Jose", ZoningDistrict: "R-1-8 Single-Family"}
	z := completed("zoning_use", Finding{Label: "Zoning district", Value: "R-2 Two-Family Residence"},
		Finding{Label: "Overlay zone", Value: "FP-1 floodplain"})
	d := completed("dimensional_standards", Finding{Label: "District standards", Value: "R1-8 front setback 20 ft"})

	flags := Consistency([]SectionResult{j, z, d})
	want := []RedFlag{{Section: "zoning_use", Kind: FlagInconsistent, Message: "zoning district R-2 differs from R-1-8 in jurisdiction"}}
	if !reflect.DeepEqual(flags, want) {
		t.Errorf("flags = %+v, want %+v (R1-8 is R-1-8 spelled without a hyphen; the overlay is not a district)", flags, want)
	}
	if sum := Summarize([]SectionResult{j, z, d}); !slices.Contains(sum.RedFlags, want[0]) {
		t.Errorf("the summary's red flags lack the inconsistency: %+v", sum.RedFlags)
	}
}

func TestConsistencyAgreeingOrUnreadableValuesRaiseNothing(t *testing.T) {
	j := completed(JurisdictionKey)
	j.Jurisdiction = &Jurisdiction{ZoningDistrict: "RH-1(D)"}
	z := completed("zoning_use", Finding{Label: "Base zoning district", Value: "RH-1"})
	d := completed("dimensional_standards", Finding{Label: "Zoning", Value: "Residential, House (no code given)"})
	sim := completed("dimensional_standards", Finding{Label: "Zoning district", Value: "C-3"})
	sim.Model = "simulated"
	if flags := Consistency([]SectionResult{j, z, d, sim}); len(flags) != 0 {
		t.Errorf("flags = %+v", flags)
	}
}

func TestConsistencyFlagsACodeEditionAdoptedCodesDoesNotName(t *testing.T) {
	a := completed("adopted_codes",
		Finding{Label: "Building code", CodeEdition: "2025 California Building Code"},
		Finding{Label: "Energy code", CodeEdition: "2025 California Energy Code (Title 24, Part 6)"})
	o := completed("occupancy_construction",
		Finding{Label: "Occupancy", CodeEdition: "2022 California Building Code"},
		Finding{Label: "Type of construction", CodeEdition: "2022 California Building Code"},
		Finding{Label: "Sprinklers", CodeEdition: "2025 California Residential Code"})
	e := completed("energy_code", Finding{Label: "Insulation", CodeEdition: "2025 California Energy Code"})
	f := completed("fire_life_safety", Finding{Label: "Alarm", CodeEdition: "NFPA 72"})

	flags := Consistency([]SectionResult{a, o, e, f})
	if len(flags) != 1 || flags[0].Section != "occupancy_construction" ||
		!strings.Contains(flags[0].Message, "cites 2022 California Building Code, but adopted_codes says 2025 California Building Code is in force") {
		t.Errorf("flags = %+v: one flag for the building code year (once, not per finding); none for a family adopted_codes does not name or an edition without a year", flags)
	}
}

func TestEditionReadsFamilyAndYear(t *testing.T) {
	for in, want := range map[string][2]string{
		"2021 IBC":                                    {"building", "2021"},
		"2021 International Residential Code":         {"residential", "2021"},
		"2023 NFPA 70 (NEC)":                          {"electrical", "2023"},
		"2021 International Energy Conservation Code": {"energy", "2021"},
		"2022 California Fire Code":                   {"fire", "2022"},
		"California Building Code":                    {"", ""},
		"2019 ordinance":                              {"", ""},
	} {
		fam, year, _ := edition(in)
		if [2]string{fam, year} != want {
			t.Errorf("edition(%q) = %q %q, want %q", in, fam, year, want)
		}
	}
}
