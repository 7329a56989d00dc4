package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

func TestProgressShowsVerification(t *testing.T) {
	start := time.Now().Add(-5 * time.Second)
	s := jobState{Address: "1 Main St, Springfield, IL", Provider: "fake", Total: 13, Done: 13, Started: start,
		Sections: sectionsOf(domain.SectionKeys()), Verify: true, Verified: 9}
	all := strings.Join(view(s, 120, 40, time.Now(), false), "\n")
	require.Contains(t, all, "13/13 researched, 9/13 verified")
	for width := 1; width <= 120; width++ {
		for _, l := range view(s, width, 40, time.Now(), false) {
			require.LessOrEqual(t, ansi.StringWidth(l), max(width-1, 1), "width %d: %q", width, l)
		}
	}
	s.Verify = false
	require.NotContains(t, strings.Join(view(s, 120, 40, time.Now(), false), "\n"), "verified", "no verification shown without verify")
}

func TestProgressLinesSayWhatWasVerified(t *testing.T) {
	var out bytes.Buffer
	p := &progress{out: &out}
	p.Start(jobState{Total: 2, Sections: sectionsOf([]string{domain.JurisdictionKey, "zoning_use"}), Verify: true}, "")
	s := domain.SectionResult{Key: "zoning_use", Findings: []domain.Finding{{Label: "a", Value: "b"}, {Label: "c", Value: "d"}}}
	domain.ApplyVerdicts(&s, []domain.FindingVerdict{{Verdict: domain.VerdictVerified}, {Verdict: domain.VerdictContradicted, Quote: "x"}}, time.Now())
	p.hooks().SectionVerified(domain.Job{}, s)
	failed := domain.SectionResult{Key: domain.JurisdictionKey, VerificationError: "provider said no"}
	p.hooks().SectionVerified(domain.Job{}, failed)
	require.Equal(t, "[1/2 verified] Zoning district and permitted use (zoning_use): 1 verified, 1 contradicted, 0 unverifiable\n"+
		"[1/2 verified] Jurisdiction and authorities having jurisdiction (jurisdiction): not verified: provider said no\n", out.String())
}
