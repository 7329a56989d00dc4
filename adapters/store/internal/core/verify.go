package core

import "github.com/codecheck/codecheck/domain"

// flagParam is a 0/1 column (jobs.reuse, jobs.verify, events.verified):
// SQLite has no boolean type, and both engines compare integers alike.
func flagParam(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Values of sections.verified: the section's verification is done, or was
// stopped by the job's cost cap (so that Finish flags the job cost_capped
// without reading the results' JSON).
const (
	verifiedNo     = 0
	verifiedYes    = 1
	verifiedCapped = 2
)

func verifiedParam(sec domain.SectionResult) int {
	switch {
	case sec.VerifiedAt != nil:
		return verifiedYes
	case sec.VerificationCapped():
		return verifiedCapped
	}
	return verifiedNo
}
