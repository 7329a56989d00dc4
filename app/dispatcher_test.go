package app_test

import (
	"context"
	"errors"
	"log/slog"
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
