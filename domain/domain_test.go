package domain

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestTransitions(t *testing.T) {
	allowed := map[[2]JobStatus]bool{
		{JobPending, JobProcessing}: true, {JobPending, JobCanceled}: true, {JobPending, JobFailed}: true,
		{JobProcessing, JobCompleted}: true, {JobProcessing, JobFailed}: true, {JobProcessing, JobCanceled}: true,
		{JobProcessing, JobPending}: true, {JobFailed, JobPending}: true, {JobCanceled, JobPending}: true,
		{JobCompleted, JobPending}: true, // a retry of a job its cost cap cut short
	}
	for _, from := range JobStatuses {
		for _, to := range JobStatuses {
			want := allowed[[2]JobStatus{from, to}]
			if got := from.CanTransition(to); got != want {
				t.Errorf("%s -> %s: got %v, want %v", from, to, got, want)
			}
			if err := from.CheckTransition(to); (err == nil) != want || (err != nil && !errors.Is(err, ErrConflict)) {
				t.Errorf("CheckTransition(%s -> %s) = %v", from, to, err)
			}
		}
	}
}

func TestNormalizeAddress(t *testing.T) {
	if a, err := NormalizeAddress("  1 Main St, Springfield  "); err != nil || a != "1 Main St, Springfield" {
		t.Fatalf("got %q, %v", a, err)
	}
	for _, bad := range []string{"", "   ", "abc", strings.Repeat("x", 301), "1 Main St\n2 Main St"} {
		_, err := NormalizeAddress(bad)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "address" || !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeAddress(%q) = %v, want a validation error on address", bad, err)
		}
	}
	// Invisible format (Cf) and line/paragraph separator (Zl, Zp)
	// characters would reach the prompts unseen.
	for _, r := range []rune{'\u202e', '\u200b', '\ufeff', '\u2028', '\u2029'} {
		bad := "1 Main St" + string(r) + ", Springfield"
		_, err := NormalizeAddress(bad)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "address" || !strings.Contains(ve.Rule, "Cf, Zl, Zp") || !strings.Contains(ve.Rule, fmt.Sprintf("%U", r)) {
			t.Errorf("NormalizeAddress with %U = %v, want a validation error naming the rule and the character", r, err)
		}
	}
	if _, err := NormalizeAddress("1 Rue de l’Église, Montréal"); err != nil {
		t.Errorf("accented letters and typographic quotes are fine: %v", err)
	}
}

func TestNormalizeSections(t *testing.T) {
	all, err := NormalizeSections(nil)
	if err != nil || len(all) != 13 || all[0] != JurisdictionKey || all[12] != "permitting_process" {
		t.Fatalf("all sections: %v %v", all, err)
	}
	got, err := NormalizeSections([]string{"energy_code", "zoning_use", "energy_code"})
	if err != nil || strings.Join(got, ",") != "jurisdiction,zoning_use,energy_code" {
		t.Fatalf("got %v %v", got, err)
	}
	_, err = NormalizeSections([]string{"zoning_use", "roofing"})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "sections[1]" {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestProgressAndReport(t *testing.T) {
	job := Job{ID: "j", Address: "1 Main St", Sections: []string{JurisdictionKey, "zoning_use"}, Done: 1, Status: JobProcessing}
	if job.Progress() != "1/2" {
		t.Fatal(job.Progress())
	}
	cost := 0.25
	r := NewReport(job, []SectionResult{{Key: JurisdictionKey, Title: "J", Ordinal: 1, Status: SectionCompleted,
		Summary: "City of X", Usage: Usage{InputTokens: 10, OutputTokens: 5, CostUSD: &cost},
		Sources: []Source{{ID: 1, URL: "https://x.gov", Official: true}}}})
	if len(r.Sections) != 2 || r.Sections[1].Status != SectionPending || r.Usage.InputTokens != 10 || *r.Usage.CostUSD != 0.25 {
		t.Fatalf("report: %+v", r)
	}
	var b strings.Builder
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Building code report: 1 Main St", "1/2", "City of X", "(official)", "_Status: pending_", "10+5 tokens · $0.2500"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}

// A canceled job's report shows no section running or pending, even for
// sections the store left so (jobs canceled before it closed them).
func TestReportOfCanceledJob(t *testing.T) {
	job := Job{ID: "j", Address: "1 Main St", Sections: []string{JurisdictionKey, "zoning_use", "energy_code"}, Done: 1, Status: JobCanceled}
	r := NewReport(job, []SectionResult{{Key: JurisdictionKey, Status: SectionCompleted}, {Key: "zoning_use", Status: SectionRunning}})
	got := []SectionStatus{r.Sections[0].Status, r.Sections[1].Status, r.Sections[2].Status}
	if !slices.Equal(got, []SectionStatus{SectionCompleted, SectionCanceled, SectionCanceled}) {
		t.Fatalf("got %v", got)
	}
	var b strings.Builder
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "running") || !strings.Contains(b.String(), "_Status: canceled_") {
		t.Errorf("markdown:\n%s", b.String())
	}
}

func TestIsCodeSectionNamesTheFiveCodeSections(t *testing.T) {
	var got []string
	for _, s := range Catalogue() {
		if IsCodeSection(s.Key) {
			got = append(got, s.Key)
		}
	}
	want := []string{"adopted_codes", "occupancy_construction", "fire_life_safety", "accessibility", "energy_code"}
	if !slices.Equal(got, want) {
		t.Fatalf("code sections = %v, want %v", got, want)
	}
}
