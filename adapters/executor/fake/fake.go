// Package fake is an executor for tests: it records every submission and,
// when given a runner, runs each job in a goroutine of its own as a real
// executor would. It passes the same contract suite as the real executors.
package fake

import (
	"context"
	"fmt"
	"sync"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Name is the executor's name as recorded on jobs.
const Name = "fake"

// Executor records submissions and optionally runs them.
type Executor struct {
	runner ports.JobRunner
	wg     sync.WaitGroup

	mu          sync.Mutex
	submissions []domain.Job
	running     map[string]context.CancelFunc
	// FailNext, when set, is returned (and cleared) by the next Submit.
	failNext error
}

var _ ports.Executor = (*Executor)(nil)

// New returns a fake executor. With a nil runner it only records.
func New(runner ports.JobRunner) *Executor {
	return &Executor{runner: runner, running: map[string]context.CancelFunc{}}
}

func (e *Executor) Name() string { return Name }

// FailNext makes the next Submit return err.
func (e *Executor) FailNext(err error) {
	e.mu.Lock()
	e.failNext = err
	e.mu.Unlock()
}

// Submit records the job and, with a runner, runs it in the background.
func (e *Executor) Submit(_ context.Context, h ports.Handoff) (string, error) {
	job := h.Job
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.failNext; err != nil {
		e.failNext = nil
		return "", err
	}
	e.submissions = append(e.submissions, job)
	ref := fmt.Sprintf("fake-%d", len(e.submissions))
	if e.runner != nil {
		ctx, cancel := context.WithCancel(context.Background())
		e.running[job.ID] = cancel
		e.wg.Go(func() {
			defer cancel()
			_ = e.runner.RunJob(ctx, job.ID)
			e.mu.Lock()
			delete(e.running, job.ID)
			e.mu.Unlock()
		})
	}
	return ref, nil
}

// Cancel stops the job's run, if running.
func (e *Executor) Cancel(_ context.Context, job domain.Job) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cancel, ok := e.running[job.ID]; ok {
		cancel()
	}
	return nil
}

// Submissions returns the jobs submitted so far.
func (e *Executor) Submissions() []domain.Job {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]domain.Job(nil), e.submissions...)
}

// Close cancels running jobs and waits for them.
func (e *Executor) Close() {
	e.mu.Lock()
	for _, cancel := range e.running {
		cancel()
	}
	e.mu.Unlock()
	e.wg.Wait()
}
