package app

import (
	"context"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// Hooks let outside observers (metrics, webhooks, progress displays) follow
// the work without the app knowing them. Every field is optional; hooks are
// called synchronously and must return quickly.
type Hooks struct {
	// ProviderCall is called after every LLM call with its outcome:
	// "ok", "retryable_error", "permanent_error", "invalid_output" or
	// "canceled" (the job was stopped while the call ran).
	ProviderCall func(provider, outcome string, usage domain.Usage, took time.Duration)
	// SectionStarted is called when a section starts running.
	SectionStarted func(job domain.Job, key string)
	// SectionDone is called when a section is saved completed or failed.
	SectionDone func(job domain.Job, s domain.SectionResult)
	// SectionVerified is called when a section's verification is saved
	// (verified_at, or verification_error when it could not be done).
	SectionVerified func(job domain.Job, s domain.SectionResult)
	// JobDone is called when this process moves a job to a terminal status
	// (completed, failed, canceled).
	JobDone func(ctx context.Context, job domain.Job)
}

// Join returns hooks that call each of hs in turn.
func Join(hs ...Hooks) Hooks {
	var out Hooks
	for _, h := range hs {
		out.ProviderCall = chain3(out.ProviderCall, h.ProviderCall)
		out.SectionStarted = chainF(out.SectionStarted, h.SectionStarted)
		out.SectionDone = chainF(out.SectionDone, h.SectionDone)
		out.SectionVerified = chainF(out.SectionVerified, h.SectionVerified)
		out.JobDone = chainF(out.JobDone, h.JobDone)
	}
	return out
}

func chainF[A, B any](a, b func(A, B)) func(A, B) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(x A, y B) { a(x, y); b(x, y) }
}

func chain3(a, b func(string, string, domain.Usage, time.Duration)) func(string, string, domain.Usage, time.Duration) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(p, o string, u domain.Usage, d time.Duration) { a(p, o, u, d); b(p, o, u, d) }
}
