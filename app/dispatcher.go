package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// DispatcherConfig holds a Dispatcher's dependencies.
type DispatcherConfig struct {
	Store    ports.JobStore
	Changes  ports.Changes
	Executor ports.Executor
	// MaxAttempts bounds the attempts at a job whose workers keep
	// disappearing (default 3).
	MaxAttempts int
	// Interval is the polling fallback and the lease-expiry scan period
	// (default 1s).
	Interval time.Duration
	// RetryBase and RetryMax bound the backoff after a failed hand-off
	// (defaults 1s and 1m).
	RetryBase, RetryMax time.Duration
	// HandoffTimeout is how long a handed-off job may wait for a worker to
	// claim it before it is handed off again (default 5m): an execution
	// that died before claiming (a container that never started) must not
	// leave the job pending forever.
	HandoffTimeout time.Duration
	Hooks          Hooks
	Logger         *slog.Logger
}

// Dispatcher is the outbox relay: it hands pending jobs to the executor once
// per attempt (again after a restart), re-queues jobs whose lease expired,
// and fails jobs out of attempts.
type Dispatcher struct {
	cfg DispatcherConfig
	log *slog.Logger

	mu    sync.Mutex
	retry map[string]retryState // job id -> backoff after a failed hand-off
}

type retryState struct {
	failures int
	next     time.Time
}

// NewDispatcher checks cfg and returns a Dispatcher.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Changes == nil || cfg.Executor == nil {
		return nil, errors.New("app.NewDispatcher: Store, Changes and Executor are required")
	}
	setDefault(&cfg.MaxAttempts, DefaultMaxAttempts)
	setDefault(&cfg.Interval, DefaultDispatchInterval)
	setDefault(&cfg.RetryBase, DefaultDispatchRetryBase)
	setDefault(&cfg.RetryMax, DefaultDispatchRetryMax)
	setDefault(&cfg.HandoffTimeout, DefaultHandoffTimeout)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Dispatcher{cfg: cfg, log: log.With("component", "dispatcher"), retry: map[string]retryState{}}, nil
}

// Run dispatches until ctx is done: on every job change and every Interval.
func (d *Dispatcher) Run(ctx context.Context) error {
	changed, err := d.cfg.Changes.Watch(ctx, "")
	if err != nil {
		return err
	}
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	d.Tick(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			// A change can make a job pending, never a lease expire: only
			// hand-offs need looking at (every section save is a change).
			d.handOff(ctx)
		case <-t.C:
			d.Tick(ctx)
		}
	}
}

// Tick does one pass: rescue expired leases and stale hand-offs, then hand
// off pending jobs.
func (d *Dispatcher) Tick(ctx context.Context) {
	d.rescue(ctx)
	d.redispatchStale(ctx)
	d.handOff(ctx)
}

// handOff hands pending jobs to the executor.
func (d *Dispatcher) handOff(ctx context.Context) {
	jobs, err := d.cfg.Store.Dispatchable(ctx, 100)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("cannot list jobs to dispatch", "err", err)
		}
		return
	}
	d.forgetOthers(jobs)
	for _, job := range jobs {
		if ctx.Err() != nil {
			return
		}
		d.dispatch(ctx, job)
	}
}

// forgetOthers drops the backoff of jobs that no longer wait for a hand-off
// (canceled, or taken by a worker meanwhile).
func (d *Dispatcher) forgetOthers(waiting []domain.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.retry) == 0 {
		return
	}
	keep := make(map[string]bool, len(waiting))
	for _, j := range waiting {
		keep[j.ID] = true
	}
	for id := range d.retry {
		if !keep[id] {
			delete(d.retry, id)
		}
	}
}

func (d *Dispatcher) rescue(ctx context.Context) {
	res, err := d.cfg.Store.RescueExpired(ctx, d.cfg.MaxAttempts)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("cannot rescue expired leases", "err", err)
		}
		return
	}
	for _, j := range res.Requeued {
		d.log.Warn("worker lost; job re-queued", "job_id", j.ID, "attempt", j.Attempt)
	}
	for _, j := range res.Failed {
		d.log.Error("job failed: out of attempts", "job_id", j.ID, "attempt", j.Attempt, "error", j.Error)
		if d.cfg.Hooks.JobDone != nil {
			d.cfg.Hooks.JobDone(ctx, j)
		}
	}
}

func (d *Dispatcher) redispatchStale(ctx context.Context) {
	jobs, err := d.cfg.Store.RedispatchStale(ctx, d.cfg.HandoffTimeout)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("cannot look for stale hand-offs", "err", err)
		}
		return
	}
	for _, j := range jobs {
		d.log.Warn("no worker claimed the job after its hand-off; handing it off again",
			"job_id", j.ID, "attempt", j.Attempt+1, "executor_ref", j.ExecutorRef, "timeout", d.cfg.HandoffTimeout)
	}
}

// dispatch hands one job to the executor for its next attempt. The job is
// marked after the executor accepted it, so a crash in between can at worst
// start one extra execution, which the claim then turns away.
func (d *Dispatcher) dispatch(ctx context.Context, job domain.Job) {
	if !d.due(job.ID) {
		return
	}
	attempt := job.Attempt + 1
	ref, err := d.cfg.Executor.Submit(ctx, ports.Handoff{Job: job})
	if err != nil {
		d.handOffFailed(ctx, job, err)
		return
	}
	d.clearRetry(job.ID)
	err = d.cfg.Store.MarkDispatched(ctx, job.ID, attempt, d.cfg.Executor.Name(), ref)
	switch {
	case err == nil:
		d.log.Info("job dispatched", "job_id", job.ID, "attempt", attempt, "executor", d.cfg.Executor.Name(), "ref", ref)
		if job.DispatchError != "" {
			_ = d.cfg.Store.SetDispatchError(ctx, job.ID, "")
		}
	case errors.Is(err, domain.ErrConflict):
		// A worker already claimed it, or another dispatcher marked it.
	default:
		d.log.Warn("cannot record dispatch", "job_id", job.ID, "err", err)
	}
}

func (d *Dispatcher) handOffFailed(ctx context.Context, job domain.Job, err error) {
	var ee *ports.ExecutorError
	retryable := errors.As(err, &ee) && ee.Retryable
	d.mu.Lock()
	st := d.retry[job.ID]
	st.failures++
	delay := d.cfg.RetryBase << min(st.failures-1, 16)
	if !retryable {
		delay = d.cfg.RetryMax
	}
	delay = min(delay, d.cfg.RetryMax)
	st.next = time.Now().Add(delay)
	d.retry[job.ID] = st
	d.mu.Unlock()
	d.log.Warn("cannot hand job to executor; will retry", "job_id", job.ID, "executor", d.cfg.Executor.Name(),
		"retryable", retryable, "retry_in", delay, "err", err)
	if serr := d.cfg.Store.SetDispatchError(ctx, job.ID, err.Error()); serr != nil && ctx.Err() == nil {
		d.log.Warn("cannot record dispatch error", "job_id", job.ID, "err", serr)
	}
}

func (d *Dispatcher) due(jobID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.retry[jobID]
	return !ok || !time.Now().Before(st.next)
}

func (d *Dispatcher) clearRetry(jobID string) {
	d.mu.Lock()
	delete(d.retry, jobID)
	d.mu.Unlock()
}
