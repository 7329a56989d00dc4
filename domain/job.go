package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// JobStatus is the lifecycle state of a job.
type JobStatus string

const (
	JobPending    JobStatus = "pending"
	JobProcessing JobStatus = "processing"
	JobCompleted  JobStatus = "completed"
	JobFailed     JobStatus = "failed"
	JobCanceled   JobStatus = "canceled"
)

// JobStatuses lists every status, in lifecycle order.
var JobStatuses = []JobStatus{JobPending, JobProcessing, JobCompleted, JobFailed, JobCanceled}

// transitions is the whole lifecycle: pending -> processing -> completed |
// failed | canceled; processing -> pending when a worker gives a job back or
// its lease expired; failed or canceled -> pending only through an explicit
// retry, and completed -> pending too when its cost cap cut it short
// (Job.CheckRetry decides).
var transitions = map[JobStatus][]JobStatus{
	JobPending:    {JobProcessing, JobCanceled, JobFailed},
	JobProcessing: {JobCompleted, JobFailed, JobCanceled, JobPending},
	JobCompleted:  {JobPending},
	JobFailed:     {JobPending},
	JobCanceled:   {JobPending},
}

// Valid reports whether s is a known status.
func (s JobStatus) Valid() bool {
	for _, k := range JobStatuses {
		if s == k {
			return true
		}
	}
	return false
}

// Terminal reports whether no worker will touch a job in this status again
// (short of an explicit retry).
func (s JobStatus) Terminal() bool {
	return s == JobCompleted || s == JobFailed || s == JobCanceled
}

// CanTransition reports whether the lifecycle allows s -> to.
func (s JobStatus) CanTransition(to JobStatus) bool {
	for _, t := range transitions[s] {
		if t == to {
			return true
		}
	}
	return false
}

// CheckTransition returns an error wrapping ErrConflict when s -> to is not
// allowed.
func (s JobStatus) CheckTransition(to JobStatus) error {
	if !s.CanTransition(to) {
		return fmt.Errorf("%w: job is %s and cannot become %s", ErrConflict, s, to)
	}
	return nil
}

// Job is one research request for one address.
type Job struct {
	ID          string    `json:"id"`
	Address     string    `json:"address"`
	Provider    string    `json:"llm_provider"`
	Status      JobStatus `json:"status"`
	Attempt     int       `json:"attempt"`
	Executor    string    `json:"executor,omitempty"`
	ExecutorRef string    `json:"executor_ref,omitempty"`
	Error       string    `json:"error,omitempty"`
	// Sections are the keys to run, in catalogue order (default all 13).
	Sections   []string `json:"sections"`
	WebhookURL string   `json:"webhook_url,omitempty"`
	// Project is what will be built, when the client said; nil otherwise.
	Project *Project `json:"project,omitempty"`
	// MaxCostUSD caps what the job may spend on provider calls; nil is no
	// cap. CostCapped is set when the job ended with sections skipped at
	// the cap.
	MaxCostUSD     *float64 `json:"max_cost_usd,omitempty"`
	CostCapped     bool     `json:"cost_capped,omitempty"`
	IdempotencyKey string   `json:"-"`
	// RequestHash fingerprints the request that created the job, so a
	// reused idempotency key with another body can be refused.
	RequestHash string `json:"-"`

	// Reuse lets the job take its jurisdiction-wide sections from a recent
	// job of the same jurisdiction instead of researching them (see
	// CheckReuse); false, the client's reuse: false, forces fresh research.
	Reuse bool `json:"reuse"`

	// Verify asks for a verification pass over every researched section's
	// findings (see ApplyVerdicts).
	Verify bool `json:"verify"`

	// Done counts the sections that completed; the store fills it in.
	Done int `json:"-"`
	// Verified counts the completed sections with verified_at; the store
	// fills it in.
	Verified int `json:"-"`

	// DispatchedAttempt is the attempt the dispatcher last handed to the
	// executor; DispatchError explains why the last hand-off failed.
	DispatchedAttempt int    `json:"-"`
	DispatchError     string `json:"dispatch_error,omitempty"`

	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
}

// Progress is "<done>/<total>", counting completed sections.
func (j Job) Progress() string { return fmt.Sprintf("%d/%d", j.Done, len(j.Sections)) }

// Address limits.
const (
	AddressMinLen = 5
	AddressMaxLen = 300
)

// NormalizeAddress trims the address and checks it: required, 5 to 300
// characters, no control characters, and no invisible format (Unicode Cf,
// e.g. U+202E, which reverses the text shown) or line and paragraph
// separator (Zl, Zp: U+2028, U+2029) characters, which would reach the
// prompts and the report unseen.
func NormalizeAddress(address string) (string, error) {
	a := strings.TrimSpace(address)
	n := len([]rune(a))
	switch {
	case n == 0:
		return "", Invalid("address", "is required")
	case n < AddressMinLen || n > AddressMaxLen:
		return "", Invalid("address", fmt.Sprintf("must be %d to %d characters after trimming, got %d", AddressMinLen, AddressMaxLen, n))
	}
	if !utf8.ValidString(a) {
		// Postgres refuses such text, and JSON would alter it.
		return "", Invalid("address", "must be valid UTF-8 text")
	}
	for _, r := range a {
		switch {
		case unicode.IsControl(r):
			return "", Invalid("address", "must not contain control characters")
		case unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			return "", Invalid("address", fmt.Sprintf("must not contain invisible format or line/paragraph separator characters (Unicode Cf, Zl, Zp), got %U", r))
		}
	}
	return a, nil
}
