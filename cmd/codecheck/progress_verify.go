package main

import (
	"fmt"

	"github.com/codecheck/codecheck/domain"
)

// The verification's share of the progress display: with verify on, the
// bar reads "13/13 researched, 9/13 verified", and the lines mode writes a
// line per verified section.

// counts is the bar's count of a job with verify on.
func (s jobState) counts() string {
	return fmt.Sprintf("%d/%d researched, %d/%d verified", s.Done, s.Total, s.Verified, s.Total)
}

// Verified records that a section's verification was saved: verified is
// the job's count after it, or -1 to count one more when ok (the section
// got its verdicts, not a verification error); summary says what the
// verdicts were, when known.
func (p *progress) Verified(key string, verified int, ok bool, summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return
	}
	if verified < 0 {
		verified = p.state.Verified
		if ok {
			verified++
		}
	}
	p.state.Verify, p.state.Verified = true, verified
	if p.tty {
		return
	}
	line := fmt.Sprintf("[%d/%d verified] %s (%s)", p.state.Verified, p.state.Total, sectionTitle(key), key)
	if summary != "" {
		line += ": " + summary
	}
	fmt.Fprintln(p.out, line)
}

// verdictSummary counts a verified section's verdicts, or says why it was
// not verified.
func verdictSummary(s domain.SectionResult) string {
	if s.VerifiedAt == nil {
		return "not verified: " + oneLine(s.VerificationError)
	}
	c := s.VerdictCounts()
	return fmt.Sprintf("%d verified, %d contradicted, %d unverifiable",
		c[domain.VerdictVerified], c[domain.VerdictContradicted], c[domain.VerdictUnverifiable])
}
