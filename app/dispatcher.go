package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// DispatcherConfig holds a Dispatcher's dependencies. Zero limits take the
// defaults in defaults.go.
type DispatcherConfig struct {
	Store    ports.JobStore
	Changes  ports.Changes
	Executor ports.Executor
	// Tokens, when set, mints the worker token each hand-off carries, so
	// that the execution can use the worker API instead of the database.
	Tokens *WorkerTokens
	// JobTimeout bounds one attempt (default DefaultJobTimeout); a worker
	// token lives for the hand-off timeout plus the job timeout plus a
	// minute.
	JobTimeout time.Duration
	// MaxAttempts bounds the attempts at a job whose workers keep
	// disappearing, and the hand-offs of one attempt that no worker
	// claims.
	MaxAttempts int
	// Interval is the polling fallback and the lease-expiry scan period.
	Interval time.Duration
	// RetryBase and RetryMax bound the backoff after a failed hand-off.
	RetryBase, RetryMax time.Duration
	// HandoffTimeout is how long a handed-off job may wait for a worker to
	// claim it before its call is canceled and it is handed off again: an
	// execution that died before claiming (a container that never started)
	// must not leave the job pending forever.
	HandoffTimeout time.Duration
	// Concurrency bounds the hand-offs made at once, and Timeout each one.
	Concurrency int
	Timeout     time.Duration
	// Owner names this dispatcher in hand-off reservations; default the
	// host name, the process id and a random suffix.
	Owner  string
	Hooks  Hooks
	Logger *slog.Logger
}

// Dispatcher is the outbox relay: it hands pending jobs to the executor once
// per attempt however many replicas run (each hand-off is reserved in the
// store first), hands off again, after canceling the old call, what no
// worker claimed in time, and rescues jobs whose lease expired.
type Dispatcher struct {
	cfg     DispatcherConfig
	log     *slog.Logger
	rescuer *Rescuer

	mu       sync.Mutex
	failures map[string]int // job id -> failed hand-offs in a row, for the backoff
}

// NewDispatcher checks cfg and returns a Dispatcher.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Store == nil || cfg.Changes == nil || cfg.Executor == nil {
		return nil, errors.New("app.NewDispatcher: Store, Changes and Executor are required")
	}
	setDefault(&cfg.JobTimeout, DefaultJobTimeout)
	setDefault(&cfg.MaxAttempts, DefaultMaxAttempts)
	setDefault(&cfg.Interval, DefaultDispatchInterval)
	setDefault(&cfg.RetryBase, DefaultDispatchRetryBase)
	setDefault(&cfg.RetryMax, DefaultDispatchRetryMax)
	setDefault(&cfg.HandoffTimeout, DefaultHandoffTimeout)
	setDefault(&cfg.Concurrency, DefaultDispatchConcurrency)
	setDefault(&cfg.Timeout, DefaultDispatchTimeout)
	setDefault(&cfg.Owner, defaultOwner())
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rescuer, err := NewRescuer(RescuerConfig{Store: cfg.Store, MaxAttempts: cfg.MaxAttempts, Interval: cfg.Interval,
		Hooks: cfg.Hooks, Logger: log})
	if err != nil {
		return nil, err
	}
	return &Dispatcher{cfg: cfg, log: log.With("component", "dispatcher", "owner", cfg.Owner), rescuer: rescuer,
		failures: map[string]int{}}, nil
}

// defaultOwner names this process in hand-off reservations.
func defaultOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "/" + hex.EncodeToString(b)
}

// hold is how long a hand-off reservation lasts: past the longest a
// hand-off may take (canceling an old call, then the executor call, then
// recording it, each bounded by Timeout), so only a dead or hung owner
// loses it.
func (d *Dispatcher) hold() time.Duration { return 3*d.cfg.Timeout + d.cfg.Interval }

// Run dispatches until ctx is done: hand-offs on every job change and every
// Interval, at most Concurrency at once; rescues of expired leases and stale
// hand-offs every Interval, never held up by hand-offs.
func (d *Dispatcher) Run(ctx context.Context) error {
	changed, err := d.cfg.Changes.WatchState(ctx, "")
	if err != nil {
		return err
	}
	var maintenance sync.WaitGroup
	defer maintenance.Wait()
	maintenance.Go(func() { _ = d.rescuer.Run(ctx) })
	maintenance.Go(func() { d.every(ctx, d.redispatchStale) })

	slots := make(chan struct{}, d.cfg.Concurrency)
	freed := make(chan struct{}, 1)
	var handOffs sync.WaitGroup
	defer handOffs.Wait()
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		if free := cap(slots) - len(slots); free > 0 {
			for _, job := range d.reserve(ctx, free) {
				slots <- struct{}{}
				handOffs.Go(func() {
					defer func() {
						<-slots
						select {
						case freed <- struct{}{}:
						default:
						}
					}()
					d.dispatch(ctx, job)
				})
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-freed:
		case <-t.C:
		}
	}
}

// every runs fn every Interval until ctx is done.
func (d *Dispatcher) every(ctx context.Context, fn func(context.Context)) {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick does one whole pass, waiting for its hand-offs: rescue expired
// leases and stale hand-offs, then hand off pending jobs.
func (d *Dispatcher) Tick(ctx context.Context) {
	d.rescuer.Rescue(ctx)
	d.redispatchStale(ctx)
	var wg sync.WaitGroup
	slots := make(chan struct{}, d.cfg.Concurrency)
	for _, job := range d.reserve(ctx, 0) {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			d.dispatch(ctx, job)
		})
	}
	wg.Wait()
}

// reserve reserves up to limit (<= 0: the store's batch) hand-offs.
func (d *Dispatcher) reserve(ctx context.Context, limit int) []domain.Job {
	jobs, err := d.cfg.Store.ReserveHandoffs(ctx, ports.ReserveHandoffs{Owner: d.cfg.Owner, Hold: d.hold(), Limit: limit})
	if err != nil && ctx.Err() == nil {
		d.log.Warn("cannot reserve jobs to hand off", "err", err)
	}
	return jobs
}

// redispatchStale cancels the calls of hand-offs no worker claimed in time
// and hands the same attempt off again, or reports the jobs that ran out of
// hand-offs.
func (d *Dispatcher) redispatchStale(ctx context.Context) {
	r, err := d.cfg.Store.RedispatchStale(ctx, ports.StaleHandoffs{Owner: d.cfg.Owner, OlderThan: d.cfg.HandoffTimeout,
		MaxHandoffs: d.cfg.MaxAttempts, Hold: d.hold(), Limit: d.cfg.Concurrency})
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("cannot look for stale hand-offs", "err", err)
		}
		return
	}
	for _, j := range r.Failed {
		d.log.Error("job failed: no worker claimed its hand-offs", "job_id", j.ID, "executor_ref", j.ExecutorRef, "error", j.Error)
		d.cancelCall(ctx, j)
		if d.cfg.Hooks.JobDone != nil {
			d.cfg.Hooks.JobDone(ctx, j)
		}
	}
	// At most Concurrency at once, all within their reservation's hold.
	var wg sync.WaitGroup
	for _, j := range r.Again {
		d.log.Warn("no worker claimed the job after its hand-off; canceling the call and handing it off again",
			"job_id", j.ID, "attempt", j.Attempt+1, "executor_ref", j.ExecutorRef, "timeout", d.cfg.HandoffTimeout)
		wg.Go(func() {
			d.cancelCall(ctx, j)
			d.dispatch(ctx, j)
		})
	}
	wg.Wait()
}

// cancelCall cancels the job's last execution, so that a repeated hand-off
// never leaves two running.
func (d *Dispatcher) cancelCall(ctx context.Context, j domain.Job) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	if err := d.cfg.Executor.Cancel(ctx, j); err != nil && ctx.Err() == nil {
		d.log.Warn("cannot cancel the earlier call", "job_id", j.ID, "executor_ref", j.ExecutorRef, "err", err)
	}
}

// dispatch hands one reserved job to the executor for its next attempt and
// records it. The reservation keeps every other dispatcher away meanwhile;
// a crash in between lets the reservation lapse, and the claim turns away
// the at most one extra execution that can follow.
func (d *Dispatcher) dispatch(ctx context.Context, job domain.Job) {
	attempt := job.Attempt + 1
	h := ports.Handoff{Job: job}
	if d.cfg.Tokens != nil {
		h.Token = d.cfg.Tokens.Mint(job.ID, d.cfg.HandoffTimeout+d.cfg.JobTimeout+time.Minute)
	}
	submitCtx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	ref, err := d.cfg.Executor.Submit(submitCtx, h)
	cancel()
	if err != nil {
		d.handOffFailed(ctx, job, err)
		return
	}
	d.mu.Lock()
	delete(d.failures, job.ID)
	d.mu.Unlock()
	// The call exists now: record it even if ctx ends (shutdown), or its
	// reservation lapses and the job is handed off again.
	markCtx, cancelMark := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
	defer cancelMark()
	err = d.cfg.Store.MarkDispatched(markCtx, job.ID, attempt, d.cfg.Executor.Name(), ref)
	switch {
	case err == nil:
		d.log.Info("job dispatched", "job_id", job.ID, "attempt", attempt, "executor", d.cfg.Executor.Name(), "ref", ref)
	case errors.Is(err, domain.ErrConflict):
		// The job moved on meanwhile (canceled, finished, or handed off by
		// someone else): this call is surplus, and no one else knows it.
		d.log.Warn("hand-off no longer wanted; canceling its call", "job_id", job.ID, "attempt", attempt, "ref", ref, "why", err)
		surplus := job
		surplus.ExecutorRef = ref
		d.cancelCall(markCtx, surplus)
	default:
		d.log.Warn("cannot record dispatch", "job_id", job.ID, "err", err)
	}
}

// handOffFailed records why the hand-off failed and when any dispatcher
// may try again: backoff doubling per failure, at most RetryMax, and
// RetryMax at once for an error the executor calls permanent.
func (d *Dispatcher) handOffFailed(ctx context.Context, job domain.Job, err error) {
	var ee *ports.ExecutorError
	retryable := errors.As(err, &ee) && ee.Retryable
	d.mu.Lock()
	d.failures[job.ID]++
	n := d.failures[job.ID]
	if len(d.failures) > 10_000 { // bounded: the store keeps the backoff anyway
		clear(d.failures)
	}
	d.mu.Unlock()
	delay := min(d.cfg.RetryBase<<min(n-1, 16), d.cfg.RetryMax)
	if !retryable {
		delay = d.cfg.RetryMax
	}
	d.log.Warn("cannot hand job to executor; will retry", "job_id", job.ID, "executor", d.cfg.Executor.Name(),
		"retryable", retryable, "retry_in", delay, "err", err)
	failCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
	defer cancel()
	if serr := d.cfg.Store.HandoffFailed(failCtx, job.ID, err.Error(), time.Now().Add(delay)); serr != nil {
		d.log.Warn("cannot record the hand-off error", "job_id", job.ID, "err", serr)
	}
}
