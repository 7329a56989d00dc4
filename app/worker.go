// The Worker: its configuration, constructor, errors, and the switch that makes it drain.

package app

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// WorkerConfig holds a Worker's dependencies and limits. Zero limits take
// the defaults in defaults.go.
type WorkerConfig struct {
	Store     ports.WorkerStore
	Changes   ports.Changes
	Providers *Providers
	// Name identifies this worker in claims and logs (default
	// DefaultWorkerName).
	Name string
	// Executor is recorded on jobs this worker claims that were not handed
	// to an executor first (e.g. "local"); empty records nothing.
	Executor string
	// Lease is how long a claim holds without a heartbeat (default
	// DefaultLease); the worker heartbeats every third of it.
	Lease time.Duration
	// JobTimeout bounds one attempt at a job (default DefaultJobTimeout).
	JobTimeout time.Duration
	// SectionConcurrency bounds the sections run at once per job (default
	// DefaultSectionConcurrency).
	SectionConcurrency int
	// SectionAttempts bounds the provider calls per section for retryable
	// errors (default DefaultSectionAttempts).
	SectionAttempts int
	// BackoffBase is the first retry delay; it doubles per retry, with
	// jitter, up to BackoffMax (defaults DefaultBackoffBase and
	// DefaultBackoffMax). A provider's Retry-After wins when longer.
	BackoffBase, BackoffMax time.Duration
	// ReuseTTL is how old research may be that a job allowing reuse
	// (domain.Job.Reuse) takes from another job of its jurisdiction instead
	// of researching its jurisdiction-wide sections (see app/reuse.go); 0,
	// the zero value, reuses nothing. DefaultReuseTTL is the usual value.
	ReuseTTL time.Duration
	// Prices prices the provider calls whose provider reports no cost
	// (default DefaultPrices).
	Prices domain.PriceTable
	Hooks  Hooks
	Logger *slog.Logger
}

// Worker processes jobs: it claims one, runs its sections with the research
// agent, saves each as it finishes, and ends the job. It implements
// ports.JobRunner.
type Worker struct {
	cfg      WorkerConfig
	log      *slog.Logger
	stopping chan struct{}
	stopOnce sync.Once
}

var _ ports.JobRunner = (*Worker)(nil)

// Errors a Worker reports about the job it was asked to run.
var (
	// ErrJobFinished: the job was already completed, failed or canceled;
	// it was not run again.
	ErrJobFinished = errors.New("job already finished")
	// ErrReleased: the worker stopped before the job was done and gave it
	// back to pending for another worker.
	ErrReleased = errors.New("job released unfinished")
	// ErrProviderUnavailable: the job's LLM provider is not configured in
	// this worker; the job was left as it was for a worker that has it.
	ErrProviderUnavailable = errors.New("job's provider is not configured in this worker")
	// errJobTimeout and errJobCanceled are context causes.
	errJobTimeout  = errors.New("job timed out")
	errJobCanceled = errors.New("job canceled")
)

// NewWorker checks cfg and returns a Worker.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Store == nil || cfg.Changes == nil || cfg.Providers == nil {
		return nil, errors.New("app.NewWorker: Store, Changes and Providers are required")
	}
	setDefault(&cfg.Lease, DefaultLease)
	setDefault(&cfg.JobTimeout, DefaultJobTimeout)
	setDefault(&cfg.SectionConcurrency, DefaultSectionConcurrency)
	setDefault(&cfg.SectionAttempts, DefaultSectionAttempts)
	setDefault(&cfg.BackoffBase, DefaultBackoffBase)
	setDefault(&cfg.BackoffMax, DefaultBackoffMax)
	if cfg.Prices.Empty() {
		cfg.Prices = DefaultPrices()
	}
	setDefault(&cfg.Name, DefaultWorkerName)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{cfg: cfg, log: log.With("worker", cfg.Name), stopping: make(chan struct{})}, nil
}

// Stop makes the worker drain: sections already running go on, no new
// section starts, and jobs that are not done are released to pending. Cancel
// the context given to RunNext/RunJob to stop running sections too.
func (w *Worker) Stop() { w.stopOnce.Do(func() { close(w.stopping) }) }

func (w *Worker) draining() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}
