package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func intp(n int) *int { return &n }

func TestNormalizeProject(t *testing.T) {
	got, err := NormalizeProject(&Project{Use: "  single-family dwelling ", Scope: ScopeADU, Stories: intp(1),
		FloorAreaSqFt: intp(800), Description: " detached ADU in the rear yard "})
	if err != nil {
		t.Fatal(err)
	}
	if got.Use != "single-family dwelling" || got.Description != "detached ADU in the rear yard" {
		t.Errorf("text not trimmed: %+v", got)
	}
	if s := got.Summary(); s != "single-family dwelling; scope adu; 1 story; 800 sq ft" {
		t.Errorf("Summary() = %q", s)
	}
	for _, empty := range []*Project{nil, {}, {Use: "   ", Description: "\t "}} {
		if p, err := NormalizeProject(empty); p != nil || err != nil {
			t.Errorf("NormalizeProject(%+v) = %+v, %v; want nil, nil", empty, p, err)
		}
	}
}

func TestNormalizeProjectRefuses(t *testing.T) {
	cases := []struct {
		name  string
		p     Project
		field string
		rule  string
	}{
		{"unknown scope", Project{Scope: "demolition"}, "project.scope", "must be one of new, addition"},
		{"zero stories", Project{Stories: intp(0)}, "project.stories", "must be 1 to 200, got 0"},
		{"too many stories", Project{Stories: intp(201)}, "project.stories", "must be 1 to 200"},
		{"negative floor area", Project{FloorAreaSqFt: intp(-5)}, "project.floor_area_sqft", "must be 1 to 10000000"},
		{"huge floor area", Project{FloorAreaSqFt: intp(10_000_001)}, "project.floor_area_sqft", "must be 1 to 10000000"},
		{"long use", Project{Use: strings.Repeat("a", 201)}, "project.use", "at most 200 characters"},
		{"control in use", Project{Use: "office\x00"}, "project.use", "control characters"},
		{"long description", Project{Description: strings.Repeat("é", 2001)}, "project.description", "at most 2000 characters, got 2001"},
		{"control in description", Project{Description: "two\nlines"}, "project.description", "control characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NormalizeProject(&tc.p)
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a *ValidationError", err)
			}
			if ve.Field != tc.field || !strings.Contains(ve.Rule, tc.rule) {
				t.Errorf("got %s: %s; want %s: ...%s...", ve.Field, ve.Rule, tc.field, tc.rule)
			}
		})
	}
	for _, s := range Scopes {
		if _, err := NormalizeProject(&Project{Scope: s}); err != nil {
			t.Errorf("scope %s: %v", s, err)
		}
	}
}

func TestReportResearchedAtAndProjectHeader(t *testing.T) {
	t1 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Minute)
	job := Job{ID: "j1", Address: "1 Main St, Springfield", Status: JobProcessing,
		Sections: []string{JurisdictionKey, "zoning_use", "energy_code"},
		Project:  &Project{Use: "office [see](http://x)", Scope: ScopeTenantImprovement, Description: "<b>fit-out</b>"}}
	jur, _ := LookupSection(JurisdictionKey)
	zon, _ := LookupSection("zoning_use")
	a, b := NewSectionResult(jur), NewSectionResult(zon)
	a.Status, a.FinishedAt = SectionCompleted, &t2
	b.Status, b.FinishedAt = SectionCompleted, &t1

	r := NewReport(job, nil)
	if r.ResearchedAt != nil {
		t.Errorf("ResearchedAt = %v before any section finished", r.ResearchedAt)
	}
	r = NewReport(job, []SectionResult{a, b})
	if r.ResearchedAt == nil || !r.ResearchedAt.Equal(t2) {
		t.Errorf("ResearchedAt = %v while running, want the latest section's %v", r.ResearchedAt, t2)
	}
	done := t2.Add(time.Hour)
	job.Status, job.FinishedAt = JobCompleted, &done
	r = NewReport(job, []SectionResult{a, b})
	if r.ResearchedAt == nil || !r.ResearchedAt.Equal(done) {
		t.Errorf("ResearchedAt = %v after the job ended, want its finished_at %v", r.ResearchedAt, done)
	}

	var md strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"- Project: office \\[see\\](http://x); scope tenant_improvement\n",
		"- Project description: &lt;b&gt;fit-out&lt;/b&gt;\n",
		"- Researched: 2025-03-01T11:01:00Z\n",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
}
