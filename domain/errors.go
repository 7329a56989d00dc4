package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors. Adapters translate their own failures into these at their
// edge, and the HTTP layer maps them to problem responses in one table.
var (
	// ErrNotFound: the job (or section) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request is not allowed in the job's current state,
	// e.g. canceling a completed job.
	ErrConflict = errors.New("conflict")
	// ErrLeaseLost: a worker wrote with an attempt that is no longer the
	// job's current one (another worker took over, or the job was canceled).
	ErrLeaseLost = errors.New("lease lost")
	// ErrInvalid: the input breaks a validation rule. Usually wrapped in a
	// *ValidationError that names the field and the rule.
	ErrInvalid = errors.New("invalid input")
	// ErrIdempotencyMismatch: an idempotency key was reused with a different
	// request body.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrNoJob: there is no runnable job to claim right now.
	ErrNoJob = errors.New("no runnable job")
	// ErrLeaseHeld: the job is processing under another worker's live lease.
	ErrLeaseHeld = errors.New("lease held by another worker")
	// ErrUnauthenticated: the credential is missing, malformed, tampered
	// with or expired.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the credential is valid but does not cover this
	// resource (a worker token for another job).
	ErrForbidden = errors.New("forbidden")
)

// ValidationError names the field that broke a rule and the rule it broke.
// It unwraps to ErrInvalid.
type ValidationError struct {
	Field string // JSON name of the field, e.g. "address" or "sections[2]"
	Rule  string // human-readable rule, e.g. "must be 5 to 300 characters"
	// EnvVar, when set, names the environment variable that would make the
	// value acceptable (an unconfigured provider).
	EnvVar string
}

func (e *ValidationError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Field, e.Rule)
	if e.EnvVar != "" {
		msg += fmt.Sprintf(" (set %s)", e.EnvVar)
	}
	return msg
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid returns a *ValidationError for field breaking rule.
func Invalid(field, rule string) error { return &ValidationError{Field: field, Rule: rule} }
