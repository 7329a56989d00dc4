package domain

import (
	"strings"
	"testing"
	"time"
)

func verifiable(conf Confidence) SectionResult {
	return SectionResult{Key: "zoning_use", Title: "Zoning", Ordinal: 3, Status: SectionCompleted, Outcome: OutcomeFound,
		Confidence: conf, Summary: "R-1.", Provider: "openai", Model: "gpt-5-mini", Grounded: true,
		Sources: []Source{{ID: 1, URL: "https://city.example.gov/zoning"}, {ID: 2, URL: "https://codes.example.com/17"}},
		Findings: []Finding{
			{Label: "Zoning district", Value: "R-1", SourceIDs: []int{1}, Supported: true},
			{Label: "Front setback", Value: "20 ft", SourceIDs: []int{2}, Supported: true},
		}}
}

func TestApplyVerdictsConfidence(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.FixedZone("x", 3600))
	cases := []struct {
		name     string
		conf     Confidence
		verdicts []FindingVerdict
		want     Confidence
		needs    bool
	}{
		{"all verified keeps high", ConfidenceHigh, []FindingVerdict{{Verdict: VerdictVerified}, {Verdict: VerdictVerified}}, ConfidenceHigh, false},
		{"unverifiable caps high at medium", ConfidenceHigh, []FindingVerdict{{Verdict: VerdictVerified}, {Verdict: VerdictUnverifiable}}, ConfidenceMedium, false},
		{"unverifiable leaves low low", ConfidenceLow, []FindingVerdict{{Verdict: VerdictUnverifiable}, {Verdict: VerdictVerified}}, ConfidenceLow, false},
		{"a missing verdict is unverifiable", ConfidenceHigh, []FindingVerdict{{Verdict: VerdictVerified}}, ConfidenceMedium, false},
		{"contradicted makes it low", ConfidenceHigh, []FindingVerdict{{Verdict: VerdictVerified},
			{Verdict: VerdictContradicted, Quote: "Front setback: 25 feet", SourceID: 2}}, ConfidenceLow, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := verifiable(c.conf)
			ApplyVerdicts(&s, c.verdicts, at)
			if s.Confidence != c.want || s.NeedsVerification != c.needs {
				t.Fatalf("confidence %s, needs verification %v; want %s, %v (%s)", s.Confidence, s.NeedsVerification, c.want, c.needs, s.ConfidenceReason)
			}
			if s.VerifiedAt == nil || !s.VerifiedAt.Equal(at) || s.VerifiedAt.Location() != time.UTC {
				t.Fatalf("verified_at %v, want %v in UTC", s.VerifiedAt, at)
			}
			for i, f := range s.Findings {
				if f.Verdict == "" {
					t.Fatalf("finding %d has no verdict", i)
				}
			}
		})
	}
}

func TestContradictedIsARedFlag(t *testing.T) {
	s := verifiable(ConfidenceHigh)
	ApplyVerdicts(&s, []FindingVerdict{{Verdict: VerdictVerified},
		{Verdict: VerdictContradicted, Quote: "Front setback: 25 feet", SourceID: 2}}, time.Now())
	flags := Summarize([]SectionResult{s}).RedFlags
	var found *RedFlag
	for i, f := range flags {
		if f.Kind == FlagContradicted {
			found = &flags[i]
		}
	}
	if found == nil || found.Section != "zoning_use" || !strings.Contains(found.Message, "Front setback") ||
		!strings.Contains(found.Message, "[2]") || !strings.Contains(found.Message, "25 feet") {
		t.Fatalf("want a contradicted flag naming the section, the finding, its source and quote; got %+v", flags)
	}
	var md strings.Builder
	if err := (Report{Job: Job{ID: "j", Verify: true, Verified: 1, Sections: []string{"zoning_use"}}, Sections: []SectionResult{s}}).WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- Verified: 1/1 sections", "| Verdict |", "✓ verified", "✗ contradicted by [2](https://codes.example.com/17): “Front setback: 25 feet”",
		"1 verified, 1 contradicted, 0 unverifiable", "(contradicted)"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md.String())
		}
	}
}

func TestUnverifiedReportUnchanged(t *testing.T) {
	var md strings.Builder
	s := verifiable(ConfidenceHigh)
	if err := (Report{Job: Job{ID: "j", Sections: []string{"zoning_use"}}, Sections: []SectionResult{s}}).WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(md.String(), "Verdict") || strings.Contains(md.String(), "Verified") {
		t.Fatalf("a job without verify shows no verification:\n%s", md.String())
	}
}
