package domain

import (
	"fmt"
	"strings"
	"time"
)

// Verification: an optional second pass (Job.Verify) checks each finding of
// a researched section against the sources it cites and gives it a
// verdict. These are the verdicts, how they bear on the section's
// confidence, and how they show in the report.

// Verdict is the verification pass's judgement of one finding.
type Verdict string

const (
	// VerdictVerified: a cited source states the finding.
	VerdictVerified Verdict = "verified"
	// VerdictContradicted: a cited source says otherwise; the finding's
	// VerdictQuote and VerdictSourceID give the contradicting text.
	VerdictContradicted Verdict = "contradicted"
	// VerdictUnverifiable: the cited sources neither state nor contradict
	// it (or could not be read).
	VerdictUnverifiable Verdict = "unverifiable"
)

// Red flag kinds of the verification pass: a finding contradicted by its
// sources, and a pass that could not run.
const (
	FlagContradicted       = "contradicted"
	FlagVerificationFailed = "verification_failed"
)

// Verdicts lists the valid verdicts.
var Verdicts = []Verdict{VerdictVerified, VerdictContradicted, VerdictUnverifiable}

// FindingVerdict is the verdict on one finding, as the verification pass
// returns it.
type FindingVerdict struct {
	Verdict Verdict
	// Quote and SourceID are the contradicting text and the source it is
	// from, on a contradicted finding.
	Quote    string
	SourceID int
	// Note says briefly why, in the verifier's words.
	Note string
}

// VerificationCapped reports whether the job's cost cap stopped the
// verification of s: the job then ends cost_capped, so that a retry with a
// higher cap can finish it.
func (s SectionResult) VerificationCapped() bool {
	return s.VerifiedAt == nil && strings.HasPrefix(s.VerificationError, CostCapReached)
}

// NeedsVerifying reports whether a job that asked for verification still
// owes s a verification pass: s is completed, has no verified_at, and no
// earlier pass of this attempt gave up on it.
func (s SectionResult) NeedsVerifying() bool {
	return s.Status == SectionCompleted && s.VerifiedAt == nil && s.VerificationError == ""
}

// ApplyVerdicts records the verdicts on s's findings (verdicts[i] is that
// of finding i; a finding without one is unverifiable), stamps verified_at
// and lets the verdicts bear on the confidence: a contradicted finding
// makes it low and the section need verification with the office; an
// unverifiable one caps it at medium; all verified keeps it.
func ApplyVerdicts(s *SectionResult, verdicts []FindingVerdict, at time.Time) {
	contradicted, unverifiable := 0, 0
	for i := range s.Findings {
		v := FindingVerdict{Verdict: VerdictUnverifiable, Note: "no verdict was given"}
		if i < len(verdicts) {
			v = verdicts[i]
		}
		f := &s.Findings[i]
		f.Verdict, f.VerdictNote = v.Verdict, strings.TrimSpace(v.Note)
		f.VerdictQuote, f.VerdictSourceID = "", 0
		switch v.Verdict {
		case VerdictContradicted:
			contradicted++
			f.VerdictQuote, f.VerdictSourceID = strings.TrimSpace(v.Quote), v.SourceID
		case VerdictUnverifiable:
			unverifiable++
		}
	}
	at = at.UTC()
	s.VerifiedAt, s.VerificationError = &at, ""
	n := len(s.Findings)
	switch {
	case contradicted > 0:
		s.Confidence = ConfidenceLow
		s.ConfidenceReason = joinSentence(s.ConfidenceReason,
			fmt.Sprintf("Lowered to low: %d of %d findings are contradicted by their sources.", contradicted, n))
		s.NeedsVerification = true
	case unverifiable > 0 && s.Confidence == ConfidenceHigh:
		s.Confidence = ConfidenceMedium
		s.ConfidenceReason = joinSentence(s.ConfidenceReason,
			fmt.Sprintf("Capped at medium: %d of %d findings could not be verified against their sources.", unverifiable, n))
	}
}

// VerdictCounts counts s's findings by verdict.
func (s SectionResult) VerdictCounts() map[Verdict]int {
	out := map[Verdict]int{}
	for _, f := range s.Findings {
		if f.Verdict != "" {
			out[f.Verdict]++
		}
	}
	return out
}

func joinSentence(a, b string) string {
	if a = strings.TrimSpace(a); a == "" {
		return b
	}
	if !strings.ContainsAny(a[len(a)-1:], ".!?") {
		a += "."
	}
	return a + " " + b
}

// VerifiedProgress is "<verified>/<total>": the sections with verified_at
// over the requested sections.
func (j Job) VerifiedProgress() string { return fmt.Sprintf("%d/%d", j.Verified, len(j.Sections)) }

// verificationFlags are the red flags of s's verification: one per
// contradicted finding, naming it, and one when the pass failed.
func verificationFlags(s SectionResult) []RedFlag {
	var flags []RedFlag
	for _, f := range s.Findings {
		if f.Verdict != VerdictContradicted {
			continue
		}
		msg := fmt.Sprintf("%q (%s) is contradicted by its sources", strings.TrimSpace(f.Label), strings.TrimSpace(f.Value))
		if f.VerdictSourceID > 0 {
			msg = fmt.Sprintf("%q (%s) is contradicted by source [%d]", strings.TrimSpace(f.Label), strings.TrimSpace(f.Value), f.VerdictSourceID)
		}
		if f.VerdictQuote != "" {
			msg += fmt.Sprintf(": %q", f.VerdictQuote)
		}
		flags = append(flags, RedFlag{Section: s.Key, Kind: FlagContradicted, Message: msg})
	}
	if s.VerificationError != "" {
		flags = append(flags, RedFlag{Section: s.Key, Kind: FlagVerificationFailed,
			Message: "its findings could not be verified: " + s.VerificationError})
	}
	return flags
}

// verdictCell is a finding's verdict in the report's findings table.
func verdictCell(f Finding, sources []Source) string {
	switch f.Verdict {
	case VerdictVerified:
		return "✓ verified"
	case VerdictContradicted:
		cell := "✗ contradicted"
		if f.VerdictSourceID > 0 {
			cell += " by " + sourceRefs([]int{f.VerdictSourceID}, sources)
		}
		if f.VerdictQuote != "" {
			cell += ": “" + mdCell(f.VerdictQuote) + "”"
		}
		return cell
	case VerdictUnverifiable:
		return "? unverifiable"
	}
	return ""
}

// writeVerificationMarkdown says, in a section, when and with what
// result its findings were verified, or why they could not be.
func writeVerificationMarkdown(b *strings.Builder, s SectionResult) {
	switch {
	case s.VerifiedAt != nil:
		c := s.VerdictCounts()
		fmt.Fprintf(b, "\n_Verified %s: %d verified, %d contradicted, %d unverifiable._\n",
			s.VerifiedAt.UTC().Format(time.RFC3339), c[VerdictVerified], c[VerdictContradicted], c[VerdictUnverifiable])
	case s.VerificationError != "":
		fmt.Fprintf(b, "\n_Not verified: %s._\n", mdText(s.VerificationError))
	}
}
