package ports

import (
	"time"

	"github.com/codecheck/codecheck/domain"
)

// ReuseQuery asks the store for a section another job of the same
// jurisdiction researched (WorkerStore.ReusableSection).
type ReuseQuery struct {
	// JobID is the asking job: the jurisdiction is the one its own
	// jurisdiction section found, the provider its provider, and its own
	// sections never count.
	JobID string
	// Key is the section wanted; Model the model the job would research it
	// with.
	Key, Model string
	// NotBefore: the research must have been done at or after it.
	NotBefore time.Time
}

// Reusable is a section another job saved that a job may reuse.
type Reusable struct {
	JobID   string // the job that saved it
	Section domain.SectionResult
}
