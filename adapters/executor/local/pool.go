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

	mu      sync.Mutex
	queue   []string
	running map[string]context.CancelFunc
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
		stopping: make(chan struct{}), running: map[string]context.CancelFunc{}}, nil
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
func (p *Pool) Submit(_ context.Context, job domain.Job) (string, error) {
	select {
	case <-p.stopping:
		return "", &ports.ExecutorError{Executor: Name, Retryable: true, Err: errors.New("pool is shutting down")}
	default:
	}
	p.mu.Lock()
	p.queue = append(p.queue, job.ID)
	p.mu.Unlock()
	p.signal()
	return "", nil
}

// Cancel stops the job if this pool is running it.
func (p *Pool) Cancel(_ context.Context, job domain.Job) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cancel, ok := p.running[job.ID]; ok {
		cancel()
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
		if p.runQueued(ctx) {
			continue
		}
		ran, err := p.cfg.Runner.RunNext(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("job run ended with an error", "err", err)
		}
		if ran {
			continue
		}
		select {
		case <-p.stopping:
			return
		case <-p.wake:
			// Pass the wake-up on: one signal may stand for several jobs.
			p.signal()
		case <-t.C:
		}
	}
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
	jobCtx, cancel := context.WithCancel(ctx)
	p.running[id] = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.running, id)
		p.mu.Unlock()
		cancel()
	}()
	if err := p.cfg.Runner.RunJob(jobCtx, id); err != nil && ctx.Err() == nil {
		p.log.Warn("job run ended with an error", "job_id", id, "err", err)
	}
	return true
}
