package ports

import (
	"context"

	"github.com/codecheck/codecheck/domain"
)

// Executor runs jobs asynchronously somewhere: in-process goroutines, Modal
// functions, or a fake.
type Executor interface {
	// Name is the executor's name as recorded on jobs ("local", "modal").
	Name() string

	// Submit hands the job off for execution and returns at once with a
	// reference to the execution (e.g. a Modal function-call id; may be
	// empty). Errors are wrapped in *ExecutorError when classified.
	Submit(ctx context.Context, h Handoff) (ref string, err error)

	// Cancel stops the job's execution if it is running. Canceling a job
	// the executor does not know is not an error.
	Cancel(ctx context.Context, job domain.Job) error
}

// Handoff is a job handed to an executor for its next attempt.
type Handoff struct {
	Job domain.Job
	// Token is the worker token an execution outside this process presents
	// to the worker API instead of database credentials; empty when the
	// server has no worker secret (the execution then needs DATABASE_URL).
	// It is a credential: never log it.
	Token string
}

// ExecutorError classifies an executor failure.
type ExecutorError struct {
	Executor  string
	Retryable bool // transient: try again later
	Err       error
}

func (e *ExecutorError) Error() string { return e.Executor + " executor: " + e.Err.Error() }
func (e *ExecutorError) Unwrap() error { return e.Err }

// JobRunner runs jobs taken from the store. The app's worker implements it;
// executors that run jobs in-process (local, fake) drive it.
type JobRunner interface {
	// RunNext claims the oldest pending job and processes it to the end.
	// It calls claimed (when not nil) with the job's id as soon as it holds
	// the job, so the caller can tie the run to that id (e.g. to cancel it).
	// It returns ran=false with a nil error when nothing was pending.
	RunNext(ctx context.Context, claimed func(jobID string)) (ran bool, err error)
	// RunJob claims the given job and processes it.
	RunJob(ctx context.Context, jobID string) error
}
