// Package executortest is the contract every ports.Executor must pass: the
// local pool, the Modal executor (against a fake control plane) and the fake.
//
// The suite supplies a ports.JobRunner that stands for the app's worker: it
// records which jobs ran and lets a test hold a job running until its
// context is canceled. An executor factory must make each submitted job
// reach that runner, by RunJob(job id) or RunNext, the way the real system
// would.
package executortest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Factory builds the executor under test around runner.
type Factory func(t *testing.T, runner ports.JobRunner) ports.Executor

const wait = 10 * time.Second

// Exercise runs the executor contract against newExecutor.
func Exercise(t *testing.T, newExecutor Factory) {
	t.Run("Name", func(t *testing.T) {
		ex := newExecutor(t, NewRunner())
		require.NotEmpty(t, ex.Name())
	})
	t.Run("SubmitRunsJob", func(t *testing.T) {
		r := NewRunner()
		ex := newExecutor(t, r)
		job := r.Add(false)
		_, err := ex.Submit(context.Background(), ports.Handoff{Job: job})
		require.NoError(t, err)
		require.Equal(t, job.ID, r.WaitDone(t))
		require.Equal(t, 1, r.Runs(job.ID))
	})
	t.Run("ManyConcurrentSubmitsEachRunOnce", func(t *testing.T) {
		r := NewRunner()
		ex := newExecutor(t, r)
		const n = 20
		jobs := make([]domain.Job, n)
		for i := range jobs {
			jobs[i] = r.Add(false)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := ex.Submit(context.Background(), ports.Handoff{Job: j})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for range n {
			r.WaitDone(t)
		}
		for _, j := range jobs {
			require.Equal(t, 1, r.Runs(j.ID), "job %s", j.ID)
		}
	})
	t.Run("CancelStopsRunningJob", func(t *testing.T) {
		r := NewRunner()
		ex := newExecutor(t, r)
		job := r.Add(true)
		ref, err := ex.Submit(context.Background(), ports.Handoff{Job: job})
		require.NoError(t, err)
		job.ExecutorRef = ref
		r.WaitStarted(t, job.ID)
		require.NoError(t, ex.Cancel(context.Background(), job))
		select {
		case id := <-r.done:
			require.Equal(t, job.ID, id)
		case <-time.After(wait):
			t.Fatal("canceled job did not stop")
		}
	})
	t.Run("CancelUnknownJobIsNoError", func(t *testing.T) {
		ex := newExecutor(t, NewRunner())
		require.NoError(t, ex.Cancel(context.Background(), domain.Job{ID: "no-such-job", Status: domain.JobPending}))
	})
}

// Runner is the suite's stand-in for the app worker. It is exported so
// adapter tests can use it beyond the suite.
type Runner struct {
	mu      sync.Mutex
	seq     int
	pending []domain.Job
	blocks  map[string]bool
	runs    map[string]int
	started map[string]chan struct{}
	done    chan string
}

var _ ports.JobRunner = (*Runner)(nil)

// NewRunner returns an empty runner.
func NewRunner() *Runner {
	return &Runner{blocks: map[string]bool{}, runs: map[string]int{}, started: map[string]chan struct{}{}, done: make(chan string, 1000)}
}

// Add registers a pending job; a blocking job runs until its context is
// canceled.
func (r *Runner) Add(block bool) domain.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	j := domain.Job{ID: fmt.Sprintf("job-%03d", r.seq), Address: "1 Test Street, Springfield", Provider: "fake",
		Status: domain.JobPending, Sections: domain.SectionKeys(), CreatedAt: time.Now()}
	r.pending = append(r.pending, j)
	r.blocks[j.ID] = block
	r.started[j.ID] = make(chan struct{})
	return j
}

// RunNext runs the oldest registered job not yet run.
func (r *Runner) RunNext(ctx context.Context, claimed func(jobID string)) (bool, error) {
	r.mu.Lock()
	if len(r.pending) == 0 {
		r.mu.Unlock()
		return false, nil
	}
	j := r.pending[0]
	r.pending = r.pending[1:]
	r.mu.Unlock()
	if claimed != nil {
		claimed(j.ID)
	}
	return true, r.run(ctx, j.ID)
}

// RunJob runs the given job.
func (r *Runner) RunJob(ctx context.Context, jobID string) error {
	r.mu.Lock()
	found := false
	for i, j := range r.pending {
		if j.ID == jobID {
			r.pending = append(r.pending[:i], r.pending[i+1:]...)
			found = true
			break
		}
	}
	r.mu.Unlock()
	if !found {
		// Already run (or never registered): an idempotent worker does nothing.
		return nil
	}
	return r.run(ctx, jobID)
}

func (r *Runner) run(ctx context.Context, id string) error {
	r.mu.Lock()
	r.runs[id]++
	block := r.blocks[id]
	close(r.started[id])
	r.mu.Unlock()
	defer func() { r.done <- id }()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// Runs reports how many times the job ran.
func (r *Runner) Runs(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

// WaitStarted waits until the job started running.
func (r *Runner) WaitStarted(t *testing.T, id string) {
	t.Helper()
	r.mu.Lock()
	ch := r.started[id]
	r.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("job %s did not start", id)
	}
}

// WaitDone waits for the next job to finish and returns its id.
func (r *Runner) WaitDone(t *testing.T) string {
	t.Helper()
	select {
	case id := <-r.done:
		return id
	case <-time.After(wait):
		t.Fatal("no job finished")
		return ""
	}
}
