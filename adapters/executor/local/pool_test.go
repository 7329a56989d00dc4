package local_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/executor/local"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/executortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestContract(t *testing.T) {
	executortest.Exercise(t, func(t *testing.T, runner ports.JobRunner) ports.Executor {
		p, err := local.New(local.Config{Runner: runner, Workers: 4, PollInterval: time.Hour})
		require.NoError(t, err)
		require.NoError(t, p.Start(context.Background()))
		t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
		return p
	})
}

// A job that nobody submitted to this pool (another process's, or one left
// pending by a restart) is still picked up by the polling fallback.
func TestPollingPicksUpUnsubmittedJobs(t *testing.T) {
	r := executortest.NewRunner()
	p, err := local.New(local.Config{Runner: r, Workers: 1, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	job := r.Add(false)
	require.NoError(t, p.Start(context.Background()))
	defer p.Shutdown(context.Background())
	require.Equal(t, job.ID, r.WaitDone(t))
}

// Shutdown lets a running job drain until its deadline, then cancels it.
func TestShutdownCancelsAfterDrain(t *testing.T) {
	r := executortest.NewRunner()
	drained := make(chan struct{})
	p, err := local.New(local.Config{Runner: r, Workers: 1, PollInterval: time.Hour, OnDrain: func() { close(drained) }})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	job := r.Add(true)
	_, err = p.Submit(context.Background(), ports.Handoff{Job: job})
	require.NoError(t, err)
	r.WaitStarted(t, job.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.NoError(t, p.Shutdown(ctx))
	<-drained
	require.Equal(t, job.ID, r.WaitDone(t))
	_, err = p.Submit(context.Background(), ports.Handoff{Job: job})
	require.Error(t, err)
}

// Shutdown returns as soon as the running jobs are done: the change watcher
// does not hold it until the drain deadline.
func TestShutdownReturnsWhenJobsAreDoneWithChanges(t *testing.T) {
	r := executortest.NewRunner()
	p, err := local.New(local.Config{Runner: r, Changes: quietChanges{}, Workers: 2, PollInterval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	job := r.Add(false)
	_, err = p.Submit(context.Background(), ports.Handoff{Job: job})
	require.NoError(t, err)
	require.Equal(t, job.ID, r.WaitDone(t))

	drain, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, p.Shutdown(drain))
	require.NoError(t, drain.Err(), "Shutdown waited for the drain deadline with no job running")
}

// quietChanges never reports a change; its channels close with their
// context, as the port requires.
type quietChanges struct{}

func (quietChanges) Watch(ctx context.Context, _ string) (<-chan struct{}, error) {
	ch := make(chan struct{})
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch, nil
}

func (q quietChanges) WatchState(ctx context.Context, jobID string) (<-chan struct{}, error) {
	return q.Watch(ctx, jobID)
}

// countingRunner counts RunNext calls.
type countingRunner struct {
	*executortest.Runner
	mu    sync.Mutex
	polls int
}

func (c *countingRunner) RunNext(ctx context.Context, claimed func(string)) (bool, error) {
	c.mu.Lock()
	c.polls++
	c.mu.Unlock()
	return c.Runner.RunNext(ctx, claimed)
}

func (c *countingRunner) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.polls
}

// Once its work is done an idle pool stops looking for more until woken:
// workers do not hand an unused wake-up around forever.
func TestIdlePoolStaysIdle(t *testing.T) {
	r := &countingRunner{Runner: executortest.NewRunner()}
	p, err := local.New(local.Config{Runner: r, Workers: 4, PollInterval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Shutdown(context.Background())
	job := r.Add(false)
	_, err = p.Submit(context.Background(), ports.Handoff{Job: job})
	require.NoError(t, err)
	require.Equal(t, job.ID, r.WaitDone(t))
	settled := r.count()
	require.Never(t, func() bool { return r.count() > settled+10 }, 300*time.Millisecond, 10*time.Millisecond,
		"idle workers kept polling")
}

// Jobs submitted together run together, up to the number of workers.
func TestQueuedJobsRunConcurrently(t *testing.T) {
	r := executortest.NewRunner()
	p, err := local.New(local.Config{Runner: r, Workers: 3, PollInterval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	jobs := []domain.Job{r.Add(true), r.Add(true), r.Add(true)}
	for _, j := range jobs {
		_, err := p.Submit(context.Background(), ports.Handoff{Job: j})
		require.NoError(t, err)
	}
	for _, j := range jobs {
		r.WaitStarted(t, j.ID) // all three at once: none has finished
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, p.Shutdown(ctx))
}

// An idle pool runs no goroutine per worker, and looks for pending jobs
// once per poll, not once per worker: Workers bounds the jobs run at once.
func TestIdlePoolOfManyWorkersPollsOnce(t *testing.T) {
	r := &countingRunner{Runner: executortest.NewRunner()}
	before := runtime.NumGoroutine()
	p, err := local.New(local.Config{Runner: r, Workers: 200, PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Shutdown(context.Background())
	require.LessOrEqual(t, runtime.NumGoroutine()-before, 3, "goroutines of an idle pool")
	require.Never(t, func() bool { return r.count() > 20 }, 200*time.Millisecond, 10*time.Millisecond,
		"an idle pool of 200 workers polled once per worker, not once per poll")
	require.LessOrEqual(t, runtime.NumGoroutine()-before, 3, "goroutines of an idle pool")
}

// However often the pool is woken, one pull at a time looks for a pending
// job: wake-ups that come meanwhile make one more pull, not one each.
func TestOnePullAtATime(t *testing.T) {
	r := &slowRunner{Runner: executortest.NewRunner(), release: make(chan struct{})}
	ch := make(chan struct{}, 1)
	p, err := local.New(local.Config{Runner: r, Changes: feed(ch), Workers: 50, PollInterval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Shutdown(context.Background())
	for range 100 {
		select {
		case ch <- struct{}{}:
		default:
		}
		time.Sleep(time.Millisecond) // lets the watcher pass wake-ups on
	}
	close(r.release)
	require.Eventually(t, func() bool { return r.calls.Load() >= 1 }, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 1, r.most.Load(), "pulls at once")
	require.LessOrEqual(t, r.calls.Load(), int64(3), "pulls for 100 wake-ups during one")
}

// feed is a change feed that reports what is sent on ch, to a watcher of
// any kind; its channel closes with its context.
type feed chan struct{}

func (f feed) WatchState(ctx context.Context, jobID string) (<-chan struct{}, error) {
	return f.Watch(ctx, jobID)
}

func (f feed) Watch(ctx context.Context, _ string) (<-chan struct{}, error) {
	out := make(chan struct{})
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case <-f:
				select {
				case out <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// slowRunner's pulls find nothing, and the first waits for release; it
// records how many ran at once at most.
type slowRunner struct {
	*executortest.Runner
	release    chan struct{}
	calls, now atomic.Int64
	most       atomic.Int64
}

func (s *slowRunner) RunNext(ctx context.Context, _ func(string)) (bool, error) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	s.calls.Add(1)
	return false, nil
}
