package domain

import "time"

// EventType is the kind of a job event.
type EventType string

const (
	// EventJob: the job's status, progress, attempt or error changed.
	EventJob EventType = "job"
	// EventSection: a section finished (completed or failed).
	EventSection EventType = "section"
)

// Event is one entry of a job's change history, as streamed to clients.
// Seq increases with every event the store records, so a client that saw
// event n can resume from there.
type Event struct {
	Seq      int64     `json:"id"`
	JobID    string    `json:"job_id"`
	Type     EventType `json:"type"`
	Status   string    `json:"status"`            // job status, or section status for section events
	Progress string    `json:"progress"`          // job progress after the change
	Attempt  int       `json:"attempt"`           // job attempt
	Section  string    `json:"section,omitempty"` // section key, for section events
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}
