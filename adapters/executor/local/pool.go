// Package local runs jobs in-process, at most Workers at once. It is
// codecheck's development executor and what `codecheck serve` and
// `codecheck worker` use without Modal.
//
// Submitted jobs are queued and run by id; when the queue is empty and a
// place is free, the pool pulls any pending job from the store through the
// runner, woken by change notifications (other processes' jobs, with
// Postgres), by a job ending, and by a polling fallback. One goroutine
// dispatches; each running job has one goroutine of its own, and an idle
// pool has none: Workers is a bound, not a number of goroutines. At most
// one pull looks for a pending job at a time, so an idle pool of many
// workers asks the store once per wake-up, not once per worker.
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
	// Changes, when set, wakes the pool on any job change.
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

	// places holds a token per job running (or pull looking for one): at
	// most Workers.
	places   chan struct{}
	wake     chan struct{} // a job was submitted or changed: look for work
	freed    chan struct{} // a place was given back: look for work
	stopping chan struct{}
	hardStop context.CancelFunc
	dispatch sync.WaitGroup // the dispatcher: Shutdown stops it first
	runs     sync.WaitGroup // running jobs and the pull: Shutdown drains them
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
	return &Pool{cfg: cfg, log: log.With("executor", Name), places: make(chan struct{}, cfg.Workers),
		wake: make(chan struct{}, 1), freed: make(chan struct{}, 1), stopping: make(chan struct{}),
		running: map[string][]*run{}}, nil
}

func (p *Pool) Name() string { return Name }

// Start launches the dispatcher in the background and returns.
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
		changed, err := p.cfg.Changes.WatchState(ctx, "")
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
	p.dispatch.Go(func() { p.dispatcher(ctx) })
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
	p.dispatch.Wait() // starts nothing more
	done := make(chan struct{})
	go func() {
		p.runs.Wait()
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

// Submit queues the job and wakes the dispatcher.
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

// dispatcher starts queued jobs while places are free, and a pull of a
// pending job when there may be one (a wake-up, a job ended, the polling
// fallback): one pull at a time, and a pull that claimed a job is followed
// by another, since there may be more.
func (p *Pool) dispatcher(ctx context.Context) {
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	pulled := make(chan bool, 1) // the pull's outcome: whether it claimed a job
	look, pulling := true, false
	for {
		look = p.fill(ctx, look, &pulling, pulled)
		select {
		case <-p.stopping:
			return
		case <-p.wake:
			look = true
		case <-p.freed:
			look = true
		case claimed := <-pulled:
			pulling = false
			look = look || claimed
		case <-t.C:
			look = true
		}
	}
}

// fill takes free places for queued jobs, then for a pull when look is set
// and none is under way; it returns look, cleared when a pull started.
func (p *Pool) fill(ctx context.Context, look bool, pulling *bool, pulled chan<- bool) bool {
	for {
		select {
		case <-p.stopping:
			return look
		default:
		}
		select {
		case p.places <- struct{}{}:
		default:
			return look // every place is taken; a job's end says when one frees
		}
		if id, ok := p.dequeue(); ok {
			p.runs.Go(func() {
				p.runQueued(ctx, id)
				p.release(true)
			})
			continue
		}
		if !look || *pulling {
			<-p.places
			return look
		}
		look, *pulling = false, true
		p.runs.Go(func() { p.release(p.runNext(ctx, pulled)) })
	}
}

func (p *Pool) dequeue() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		return "", false
	}
	id := p.queue[0]
	p.queue = p.queue[1:]
	return id, true
}

// release gives a place back; after a job, it tells the dispatcher, as
// there may be more (a pull that found nothing does not: that would be a
// loop).
func (p *Pool) release(afterJob bool) {
	<-p.places
	if !afterJob {
		return
	}
	select {
	case p.freed <- struct{}{}:
	default:
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
// Cancel can stop once the runner says which job it holds. It tells pulled
// as soon as it knows whether it claimed one: at the claim, not when the
// job is done. It returns whether it ran a job.
func (p *Pool) runNext(ctx context.Context, pulled chan<- bool) bool {
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	told := false
	tell := func(claimed bool) {
		if !told {
			told = true
			pulled <- claimed // one pull at a time: the buffer has room
		}
	}
	var untrack func()
	ran, err := p.cfg.Runner.RunNext(jobCtx, func(jobID string) {
		untrack = p.track(jobID, &run{cancel: cancel})
		tell(true)
	})
	tell(ran)
	if untrack != nil {
		untrack()
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("job run ended with an error", "err", err)
	}
	return ran
}

// runQueued runs a submitted job under a context that Cancel can stop.
func (p *Pool) runQueued(ctx context.Context, id string) {
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer p.track(id, &run{cancel: cancel})()
	if err := p.cfg.Runner.RunJob(jobCtx, id); err != nil && ctx.Err() == nil {
		p.log.Warn("job run ended with an error", "job_id", id, "err", err)
	}
}
