package policy

import (
	"fmt"

	"github.com/codecheck/codecheck/domain"
)

// NotFound is the error for an unknown job id.
func NotFound(id string) error { return fmt.Errorf("job %s: %w", id, domain.ErrNotFound) }

// JobEvent is the event recording the job's current status, progress and
// attempt, with errMsg.
func JobEvent(j domain.Job, errMsg string) domain.Event {
	return domain.Event{JobID: j.ID, Type: domain.EventJob, Status: string(j.Status),
		Progress: j.Progress(), Attempt: j.Attempt, Error: errMsg}
}

// SectionSavedEvents are the events a saved section produces: a section
// event when it finished, and a job event when it moved the job's progress
// (before and after are the job around the save).
func SectionSavedEvents(before, after domain.Job, sec domain.SectionResult) []domain.Event {
	var out []domain.Event
	if sec.Status == domain.SectionCompleted || sec.Status == domain.SectionFailed {
		out = append(out, domain.Event{JobID: after.ID, Type: domain.EventSection, Status: string(sec.Status),
			Progress: after.Progress(), Attempt: after.Attempt, Section: sec.Key, Error: sec.Error})
	}
	if after.Done != before.Done {
		out = append(out, JobEvent(after, ""))
	}
	return out
}
