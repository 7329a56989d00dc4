// Package local runs jobs in-process on a bounded pool of goroutines. It is
// codecheck's development executor and what `codecheck serve` and
// `codecheck worker` use without Modal.
//
// Submitted jobs are queued and run by id; when the queue is empty, workers
// pull any pending job from the store through the runner, woken by change
// notifications (other processes' jobs, with Postgres) and by a polling
// fallback.
package local

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Name is the executor's name as recorded on jobs.
const Name = "local"

// Config sets up a Pool.
type Config struct {
	Runner ports.JobRunner
	// Changes, when set, wakes idle workers on any job change.
	Changes ports.Changes
	// Workers is the number of jobs run at once (default 8).
	Workers int
	// PollInterval is the fallback period for looking for pending jobs
	// (default 2s).
	PollInterval time.Duration
	// OnDrain is called when Shutdown begins, e.g. to make the runner stop
	// starting new sections.
	OnDrain func()
	Logger  *slog.Logger
}

// Pool is the local executor.
type Pool struct {
	cfg Config
	log *slog.Logger

	wake     chan struct{}
	stopping chan struct{}
	hardStop context.CancelFunc
	loops    sync.WaitGroup // the worker loops: Shutdown drains them
	watcher  sync.WaitGroup // the change watcher: it runs until hardStop

	mu    sync.Mutex
	queue []string
	// running maps a job id to the runs of it in this pool (normally one;
	// briefly two when a queued run and a pulled run race for the job).
	running map[string][]*run
	started bool
}

var _ ports.Executor = (*Pool)(nil)

// New returns a Pool; call Start to run it.
func New(cfg Config) (*Pool, error) {
	if cfg.Runner == nil {
		return nil, errors.New("local.New: Runner is required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Pool{cfg: cfg, log: log.With("executor", Name), wake: make(chan struct{}, 1),
		stopping: make(chan struct{}), running: map[string][]*run{}}, nil
}

func (p *Pool) Name() string { return Name }

// Start launches the workers in the background and returns.
func (p *Pool) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return errors.New("local pool already started")
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.hardStop = cancel
	if p.cfg.Changes != nil {
		changed, err := p.cfg.Changes.Watch(ctx, "")
		if err != nil {
			cancel()
			return err
		}
		p.watcher.Go(func() {
			for range changed {
				p.signal()
			}
		})
	}
	for range p.cfg.Workers {
		p.loops.Go(func() { p.loop(ctx) })
	}
	p.log.Info("worker pool started", "workers", p.cfg.Workers)
	return nil
}

// Shutdown stops taking jobs and lets running ones drain until ctx is done;
// then it cancels them (the runner releases unfinished jobs) and waits.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-p.stopping:
	default:
		close(p.stopping)
		if p.cfg.OnDrain != nil {
			p.cfg.OnDrain()
		}
	}
	done := make(chan struct{})
	go func() {
		p.loops.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.log.Warn("drain period over; stopping running jobs")
	}
	p.hardStop()
	<-done
	p.watcher.Wait()
	return nil
}

// Submit queues the job and wakes a worker.
func (p *Pool) Submit(_ context.Context, h ports.Handoff) (string, error) {
	select {
	case <-p.stopping:
		return "", &ports.ExecutorError{Executor: Name, Retryable: true, Err: errors.New("pool is shutting down")}
	default:
	}
	p.mu.Lock()
	p.queue = append(p.queue, h.Job.ID)
	p.mu.Unlock()
	p.signal()
	return "", nil
}

// Cancel stops the job if this pool is running it.
func (p *Pool) Cancel(_ context.Context, job domain.Job) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.running[job.ID] {
		r.cancel()
	}
	for i, id := range p.queue {
		if id == job.ID {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			break
		}
	}
	return nil
}

func (p *Pool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Pool) loop(ctx context.Context) {
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stopping:
			return
		default:
		}
		ran := p.runQueued(ctx) || p.runNext(ctx)
		if ran {
			// There was work, so there may be more: wake a sibling. An idle
			// worker does not pass a wake-up on, so idle pools stay idle.
			p.signal()
			continue
		}
		select {
		case <-p.stopping:
			return
		case <-p.wake:
		case <-t.C:
		}
	}
}

// run is one job run of a worker, cancelable by Cancel.
type run struct{ cancel context.CancelFunc }

// track registers r as running jobID; the returned func unregisters it.
func (p *Pool) track(jobID string, r *run) func() {
	p.mu.Lock()
	p.running[jobID] = append(p.running[jobID], r)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		runs := p.running[jobID]
		for i, x := range runs {
			if x == r {
				runs = append(runs[:i], runs[i+1:]...)
				break
			}
		}
		if len(runs) == 0 {
			delete(p.running, jobID)
		} else {
			p.running[jobID] = runs
		}
	}
}

// runNext runs any pending job the runner claims, under a context that
// Cancel can stop once the runner says which job it holds.
func (p *Pool) runNext(ctx context.Context) bool {
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var untrack func()
	ran, err := p.cfg.Runner.RunNext(jobCtx, func(jobID string) {
		untrack = p.track(jobID, &run{cancel: cancel})
	})
	if untrack != nil {
		untrack()
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("job run ended with an error", "err", err)
	}
	return ran
}

// runQueued runs the next submitted job, if any, under a context that
// Cancel can stop.
func (p *Pool) runQueued(ctx context.Context) bool {
	p.mu.Lock()
	if len(p.queue) == 0 {
		p.mu.Unlock()
		return false
	}
	id := p.queue[0]
	p.queue = p.queue[1:]
	more := len(p.queue) > 0
	p.mu.Unlock()
	if more {
		p.signal() // a sibling takes the next queued job meanwhile
	}
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer p.track(id, &run{cancel: cancel})()
	if err := p.cfg.Runner.RunJob(jobCtx, id); err != nil && ctx.Err() == nil {
		p.log.Warn("job run ended with an error", "job_id", id, "err", err)
	}
	return true
}
