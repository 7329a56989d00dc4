package domain

import "time"

// EventType is the kind of a job event.
type EventType string

const (
	// EventJob: the job's status, progress, attempt or error changed.
	EventJob EventType = "job"
	// EventSection: a section started (running) or ended (completed,
	// failed, or canceled with its job).
	EventSection EventType = "section"
)

// Event is one entry of a job's change history, as streamed to clients.
// Seq numbers the job's events 1, 2, 3... in the order they were recorded,
// so a client that saw the job's event n can resume from there.
type Event struct {
	Seq      int64     `json:"id"`
	JobID    string    `json:"job_id"`
	Type     EventType `json:"type"`
	Status   string    `json:"status"`            // job status, or section status for section events
	Progress string    `json:"progress"`          // job progress after the change
	Attempt  int       `json:"attempt"`           // job attempt
	Section  string    `json:"section,omitempty"` // section key, for section events
	Error    string    `json:"error,omitempty"`
	// Verified, on a section event, says the save recorded the section's
	// verification; VerifiedProgress is the job's "<verified>/<total>",
	// on the events of jobs with verify on.
	Verified         bool      `json:"verified,omitempty"`
	VerifiedProgress string    `json:"verified_progress,omitempty"`
	At               time.Time `json:"at"`
}

// JobEventOf is the event recording the job's current status, progress and
// attempt, with errMsg.
func JobEventOf(j Job, errMsg string) Event {
	return Event{JobID: j.ID, Type: EventJob, Status: string(j.Status), Progress: j.Progress(), Attempt: j.Attempt, Error: errMsg,
		VerifiedProgress: verifiedProgressOf(j)}
}

// verifiedProgressOf is the job's verified progress when it has verify on.
func verifiedProgressOf(j Job) string {
	if !j.Verify {
		return ""
	}
	return j.VerifiedProgress()
}

// SectionEventOf is the event recording that the job's section sec changed
// to its status.
func SectionEventOf(j Job, sec SectionResult) Event {
	return Event{JobID: j.ID, Type: EventSection, Status: string(sec.Status),
		Progress: j.Progress(), Attempt: j.Attempt, Section: sec.Key, Error: sec.Error,
		Verified: sec.Status == SectionCompleted && sec.VerifiedAt != nil, VerifiedProgress: verifiedProgressOf(j)}
}

// SectionSavedEvents are the events a save of secs produces, in their
// order: a section event for each that started (running) or finished, and
// then a job event when the save moved the job's progress (before and
// after are the job around the save). A started event comes from the same
// write that marks the section running, so it costs no statement of its
// own.
func SectionSavedEvents(before, after Job, secs ...SectionResult) []Event {
	var out []Event
	for _, sec := range secs {
		if sec.Status == SectionRunning || sec.Status.Finished() {
			out = append(out, SectionEventOf(after, sec))
		}
	}
	if after.Done != before.Done {
		out = append(out, JobEventOf(after, ""))
	}
	return out
}
