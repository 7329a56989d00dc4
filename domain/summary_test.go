package domain

import (
	"reflect"
	"strings"
	"testing"
)

func completed(key string, findings ...Finding) SectionResult {
	return SectionResult{Key: key, Status: SectionCompleted, Model: "test-model", Findings: findings}
}

func factOf(t *testing.T, sum Summary, key string) KeyFact {
	t.Helper()
	for _, f := range sum.KeyFacts {
		if f.Key == key {
			return f
		}
	}
	t.Fatalf("no key fact %q in %+v", key, sum.KeyFacts)
	return KeyFact{}
}

func TestSummaryFactsFromTypedJurisdiction(t *testing.T) {
	j := completed(JurisdictionKey,
		Finding{Label: "City", Value: "Springfield (heuristic)", SourceIDs: []int{9}},
		Finding{Label: "Parcel", Value: "APN 123-45-678", SourceIDs: []int{2}, Supported: true})
	j.Jurisdiction = &Jurisdiction{City: "San Jose", County: "Santa Clara County", State: "CA",
		APN: "123-45-678", ZoningDistrict: "R-1-8"}
	zoning := completed("zoning_use", Finding{Label: "Zoning district", Value: "R-2 (heuristic)"})
	sum := Summarize([]SectionResult{j, zoning})

	juris := factOf(t, sum, "jurisdiction")
	if !juris.Found || juris.Value != "City: San Jose; County: Santa Clara County; State: CA" || juris.Section != JurisdictionKey {
		t.Errorf("jurisdiction fact = %+v", juris)
	}
	if apn := factOf(t, sum, "apn"); apn.Value != "123-45-678" || !reflect.DeepEqual(apn.SourceIDs, []int{2}) {
		t.Errorf("apn fact = %+v, want the typed APN citing the finding that gives it", apn)
	}
	if z := factOf(t, sum, "zoning_district"); z.Value != "R-1-8" || z.Section != JurisdictionKey {
		t.Errorf("zoning fact = %+v, want the typed district", z)
	}

	// Without a typed value, the heuristics still apply.
	j.Jurisdiction = &Jurisdiction{City: "San Jose"}
	sum = Summarize([]SectionResult{j, zoning})
	if z := factOf(t, sum, "zoning_district"); z.Value != "R-2 (heuristic)" || z.Section != "zoning_use" {
		t.Errorf("zoning fact without a typed district = %+v, want the heuristic one", z)
	}
	if apn := factOf(t, sum, "apn"); apn.Value != "APN 123-45-678" {
		t.Errorf("apn fact without a typed APN = %+v", apn)
	}
}

func TestSummaryFactFromFindings(t *testing.T) {
	h := completed("hazards_design_criteria",
		Finding{Label: "Seismic design category", Value: "D"},
		Finding{Label: "FEMA flood zone", Value: "AE (BFE 12 ft)", SourceIDs: []int{1, 3}})
	sum := Summarize([]SectionResult{h})
	f := factOf(t, sum, "flood_zone")
	if !f.Found || f.Value != "AE (BFE 12 ft)" || f.Section != "hazards_design_criteria" || !reflect.DeepEqual(f.SourceIDs, []int{1, 3}) {
		t.Errorf("flood fact = %+v", f)
	}
	if hist := factOf(t, sum, "historic"); hist.Found || hist.Value != NotFound {
		t.Errorf("historic fact = %+v, want not found", hist)
	}
}

func TestSummaryOverlayFlagAndNoneIsNotAFlag(t *testing.T) {
	o := completed("overlays_historic",
		Finding{Label: "Coastal overlay", Value: "Coastal Zone Overlay applies", Supported: true},
		Finding{Label: "Historic district", Value: "None", Supported: true})
	sum := Summarize([]SectionResult{o})
	var overlay []RedFlag
	for _, f := range sum.RedFlags {
		if f.Kind == FlagOverlay {
			overlay = append(overlay, f)
		}
	}
	if len(overlay) != 1 || !strings.Contains(overlay[0].Message, "Coastal Zone Overlay") || overlay[0].Section != "overlays_historic" {
		t.Errorf("overlay flags = %+v, want only the coastal overlay", overlay)
	}
	for _, f := range sum.RedFlags {
		if strings.Contains(f.Message, "Historic district") {
			t.Errorf("a \"None\" value was flagged: %+v", f)
		}
	}
}

func TestSummaryOfficesMergedCaseInsensitively(t *testing.T) {
	j := completed(JurisdictionKey, Finding{Label: "Building department", Value: "Ignored when typed offices exist"})
	j.Jurisdiction = &Jurisdiction{Offices: []JurisdictionOffice{
		{Name: "Building Division", Role: "building", Phone: "408-535-3555", URL: "https://www.sanjoseca.gov/building"},
		{Name: "Planning Division", Role: "planning", Portal: "https://www.sjpermits.org/"},
	}}
	j.VerifyWith = "building division"
	fire := completed("fire_life_safety")
	fire.VerifyWith = "BUILDING DIVISION."
	energy := completed("energy_code")
	energy.VerifyWith = "California Energy Commission"
	sum := Summarize([]SectionResult{j, fire, energy})

	want := []Office{
		{Name: "Building Division", Role: "building", Phone: "408-535-3555", URL: "https://www.sanjoseca.gov/building",
			Sections: []string{JurisdictionKey, "fire_life_safety"}},
		{Name: "Planning Division", Role: "planning", URL: "https://www.sjpermits.org/", Sections: []string{JurisdictionKey}},
		{Name: "California Energy Commission", Sections: []string{"energy_code"}},
	}
	if !reflect.DeepEqual(sum.Offices, want) {
		t.Errorf("offices =\n%+v\nwant\n%+v", sum.Offices, want)
	}
	var md strings.Builder
	if err := (Report{Sections: []SectionResult{j, fire, energy}}).WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "- Building Division — building, 408-535-3555, [") {
		t.Errorf("markdown offices lack role, phone and link:\n%s", md.String())
	}
}

func TestSummarySimulatedSectionsGiveNoFacts(t *testing.T) {
	j := completed(JurisdictionKey, Finding{Label: "City", Value: "Springfield"})
	j.Model = "simulated"
	j.Jurisdiction = &Jurisdiction{City: "Springfield", APN: "000-00-000",
		Offices: []JurisdictionOffice{{Name: "Simulated Building Department"}}}
	h := completed("hazards_design_criteria", Finding{Label: "Flood zone", Value: "AE"})
	h.Summary = "[SIMULATED] hazards"
	h.NeedsVerification, h.VerifyWith, h.Confidence = true, "the local building department (simulated result)", ConfidenceLow
	sum := Summarize([]SectionResult{j, h})

	if !sum.Simulated || !reflect.DeepEqual(sum.SimulatedSections, []string{JurisdictionKey, "hazards_design_criteria"}) {
		t.Errorf("simulated = %v %v", sum.Simulated, sum.SimulatedSections)
	}
	for _, f := range sum.KeyFacts {
		if f.Found || f.Value != NotFound {
			t.Errorf("key fact from simulated data: %+v", f)
		}
	}
	if len(sum.RedFlags) != 0 {
		t.Errorf("red flags from simulated data (the banner covers them): %+v", sum.RedFlags)
	}
	if len(sum.Offices) != 0 {
		t.Errorf("offices from simulated data: %+v", sum.Offices)
	}
}
