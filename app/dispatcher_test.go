package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/executor/fake"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

func newDispatcher(t *testing.T, e *env, ex ports.Executor, maxAttempts int, tune ...func(*app.DispatcherConfig)) *app.Dispatcher {
	cfg := app.DispatcherConfig{Store: e.store, Changes: e.store, Executor: ex, MaxAttempts: maxAttempts,
		RetryBase: time.Millisecond, RetryMax: time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	for _, f := range tune {
		f(&cfg)
	}
	d, err := app.NewDispatcher(cfg)
	require.NoError(t, err)
	return d
}

func TestDispatcherHandsEachAttemptOnce(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := fake.New(nil)
	d := newDispatcher(t, e, ex, 3)
	job := e.submit(t)
	d.Tick(context.Background())
	d.Tick(context.Background())
	require.Len(t, ex.Submissions(), 1)
	got, err := e.store.Get(context.Background(), job.ID)
	require.NoError(t, err)
	require.Equal(t, "fake", got.Executor)
	require.Equal(t, "fake-1", got.ExecutorRef)

	// A restarted server (a new dispatcher) does not hand it off again.
	newDispatcher(t, e, ex, 3).Tick(context.Background())
	require.Len(t, ex.Submissions(), 1)
}

func TestDispatcherRetriesFailedHandOffAndShowsWhy(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := fake.New(nil)
	d := newDispatcher(t, e, ex, 3)
	job := e.submit(t)
	ex.FailNext(&ports.ExecutorError{Executor: "fake", Retryable: true, Err: errors.New("control plane unavailable")})
	d.Tick(context.Background())
	got, err := e.store.Get(context.Background(), job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, got.Status)
	require.Contains(t, got.DispatchError, "control plane unavailable")

	require.Eventually(t, func() bool {
		d.Tick(context.Background())
		return len(ex.Submissions()) == 1
	}, 5*time.Second, 5*time.Millisecond)
	got, err = e.store.Get(context.Background(), job.ID)
	require.NoError(t, err)
	require.Empty(t, got.DispatchError)
}

func TestDispatcherRequeuesLostWorkersThenFails(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := fake.New(nil)
	d := newDispatcher(t, e, ex, 2)
	job := e.submit(t)
	ctx := context.Background()
	expire := func() {
		_, err := e.store.Claim(ctx, ports.ClaimRequest{JobID: job.ID, Worker: "doomed", Lease: time.Millisecond})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			j, err := e.store.Get(ctx, job.ID)
			return err == nil && j.LeaseExpiresAt != nil && time.Now().After(*j.LeaseExpiresAt)
		}, 5*time.Second, time.Millisecond)
	}
	d.Tick(ctx) // attempt 1 handed off
	expire()    // ...and its worker died
	d.Tick(ctx) // re-queued and handed off for attempt 2
	require.Len(t, ex.Submissions(), 2)
	got, err := e.store.Get(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, got.Status)

	expire() // attempt 2 dies too: out of attempts
	d.Tick(ctx)
	got, err = e.store.Get(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, got.Status)
	require.Contains(t, got.Error, "attempts")
	require.Len(t, ex.Submissions(), 2)
}

func TestDispatcherRunsUntilCanceled(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := fake.New(e.w)
	t.Cleanup(ex.Close)
	d := newDispatcher(t, e, ex, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	job := e.submit(t)
	require.Eventually(t, func() bool {
		j, err := e.store.Get(context.Background(), job.ID)
		return err == nil && j.Status == domain.JobCompleted
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

// An execution that never claims its job (a container that died on start)
// does not leave the job pending forever: after the hand-off timeout the
// same attempt is handed off again.
func TestDispatcherHandsOffAgainWhenNobodyClaims(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := fake.New(nil) // records, never runs: nobody claims
	d := newDispatcher(t, e, ex, 3, func(c *app.DispatcherConfig) { c.HandoffTimeout = 20 * time.Millisecond })
	job := e.submit(t)
	d.Tick(context.Background())
	require.Len(t, ex.Submissions(), 1)
	require.Eventually(t, func() bool {
		d.Tick(context.Background())
		return len(ex.Submissions()) == 2
	}, 5*time.Second, 5*time.Millisecond)
	got, err := e.store.Get(context.Background(), job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, got.Status)
	require.Equal(t, 0, got.Attempt, "no attempt was used up")
	require.Equal(t, "fake-2", got.ExecutorRef)
}

// recorder is an executor that records hand-offs and cancels, and can hold
// Submit until released.
type recorder struct {
	mu       sync.Mutex
	submits  []ports.Handoff
	cancels  []string // executor refs
	inFlight int
	peak     int
	gate     chan struct{} // when set, Submit waits for a value or ctx
}

func (r *recorder) Name() string { return "rec" }

func (r *recorder) Submit(ctx context.Context, h ports.Handoff) (string, error) {
	r.mu.Lock()
	r.inFlight++
	r.peak = max(r.peak, r.inFlight)
	gate := r.gate
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.inFlight--; r.mu.Unlock() }()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.submits = append(r.submits, h)
	return fmt.Sprintf("call-%d", len(r.submits)), nil
}

func (r *recorder) Cancel(_ context.Context, j domain.Job) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cancels = append(r.cancels, j.ExecutorRef)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.submits)
}

// Three replicas dispatching side by side hand each job off once.
func TestThreeReplicasHandEachJobOffOnce(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := &recorder{}
	const jobs = 60
	for range jobs {
		e.submit(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 3 {
		d := newDispatcher(t, e, ex, 3, func(c *app.DispatcherConfig) { c.Owner = fmt.Sprint("replica-", i); c.Concurrency = 4 })
		wg.Go(func() { _ = d.Run(ctx) })
	}
	require.Eventually(t, func() bool { return ex.count() >= jobs }, 10*time.Second, 5*time.Millisecond)
	cancel()
	wg.Wait()
	seen := map[string]int{}
	for _, h := range ex.submits {
		seen[h.Job.ID]++
	}
	require.Len(t, seen, jobs)
	for id, n := range seen {
		require.Equal(t, 1, n, "job %s handed off %d times", id, n)
	}
}

// Before a job is handed off again its old call is canceled; past the
// limit of hand-offs nobody claimed, it fails naming the executor and call.
func TestUnclaimedHandOffsAreCanceledCountedAndFail(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := &recorder{}
	d := newDispatcher(t, e, ex, 2, func(c *app.DispatcherConfig) { c.HandoffTimeout = 10 * time.Millisecond })
	job := e.submit(t)
	d.Tick(context.Background())
	require.Equal(t, 1, ex.count())
	require.Eventually(t, func() bool {
		d.Tick(context.Background())
		return ex.count() == 2
	}, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"call-1"}, ex.cancels, "the first call is canceled before the second hand-off")
	require.Eventually(t, func() bool {
		d.Tick(context.Background())
		j, err := e.store.Get(context.Background(), job.ID)
		return err == nil && j.Status == domain.JobFailed
	}, 5*time.Second, 5*time.Millisecond)
	got, err := e.store.Get(context.Background(), job.ID)
	require.NoError(t, err)
	require.Contains(t, got.Error, "after 2 hand-offs to the rec executor")
	require.Contains(t, got.Error, "call-2")
	require.Equal(t, 2, ex.count(), "no hand-off past the limit")
	require.Equal(t, []string{"call-1", "call-2"}, ex.cancels)
}

// Hand-offs run at most Concurrency at once, and a hung executor holds up
// neither other hand-offs beyond that bound nor lease rescue.
func TestDispatchIsConcurrentBoundedAndNeverBlocksRescue(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := &recorder{gate: make(chan struct{})}
	d := newDispatcher(t, e, ex, 3, func(c *app.DispatcherConfig) {
		c.Concurrency = 4
		c.Interval = 5 * time.Millisecond
	})
	for range 10 {
		e.submit(t)
	}
	lost := e.submit(t)
	_, err := e.store.Claim(context.Background(), ports.ClaimRequest{JobID: lost.ID, Worker: "doomed", Lease: time.Millisecond})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	require.Eventually(t, func() bool {
		ex.mu.Lock()
		defer ex.mu.Unlock()
		return ex.inFlight == 4
	}, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		j, err := e.store.Get(context.Background(), lost.ID)
		return err == nil && j.Status == domain.JobPending
	}, 5*time.Second, 5*time.Millisecond, "the lost worker's job is rescued while every hand-off slot hangs")
	close(ex.gate)
	require.Eventually(t, func() bool { return ex.count() == 11 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 4, ex.peak, "at most Concurrency hand-offs at once")
}

// With a worker secret each hand-off carries a token for its job only.
func TestHandOffCarriesAWorkerTokenForItsJob(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := &recorder{}
	tokens, err := app.NewWorkerTokens("0123456789abcdef0123456789abcdef", nil)
	require.NoError(t, err)
	d := newDispatcher(t, e, ex, 3, func(c *app.DispatcherConfig) { c.Tokens = tokens })
	job := e.submit(t)
	d.Tick(context.Background())
	require.Equal(t, 1, ex.count())
	id, err := tokens.Check(ex.submits[0].Token, job.ID)
	require.NoError(t, err)
	require.Equal(t, job.ID, id)
}

// A call made for a job that moved on while it was being made (canceled
// meanwhile) is surplus, and no one else knows it: the dispatcher cancels
// it.
func TestSurplusCallIsCanceled(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	ex := &recorder{gate: make(chan struct{})}
	d := newDispatcher(t, e, ex, 3)
	job := e.submit(t)
	ticked := make(chan struct{})
	go func() { d.Tick(context.Background()); close(ticked) }()
	require.Eventually(t, func() bool {
		ex.mu.Lock()
		defer ex.mu.Unlock()
		return ex.inFlight == 1
	}, 5*time.Second, time.Millisecond)
	_, err := e.svc.Cancel(context.Background(), job.ID)
	require.NoError(t, err)
	close(ex.gate)
	<-ticked
	require.Equal(t, []string{"call-1"}, ex.cancels)
}
