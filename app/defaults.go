// Defaults: the one home of every value the app's constructors fill in for a zero setting.

package app

import "time"

// Worker defaults, applied by NewWorker to a zero WorkerConfig field.
const (
	// DefaultLease is how long a claim on a job holds without a heartbeat;
	// the worker heartbeats every third of it.
	DefaultLease = 30 * time.Second
	// DefaultJobTimeout bounds one attempt at a job; the Modal function's
	// timeout is derived from it with room to spare (deploy/modal).
	DefaultJobTimeout = 300 * time.Second
	// DefaultSectionConcurrency is how many sections of one job run at once.
	DefaultSectionConcurrency = 12
	// DefaultSectionAttempts is how many provider calls one section may make
	// for retryable errors before it fails.
	DefaultSectionAttempts = 3
	// DefaultBackoffBase is the delay before the first retry of a provider
	// call; it doubles per retry, with jitter.
	DefaultBackoffBase = time.Second
	// DefaultBackoffMax caps the delay between provider call retries (a
	// provider's longer Retry-After still wins).
	DefaultBackoffMax = 30 * time.Second
	// DefaultWorkerName identifies a worker in claims and logs when it is
	// given no name.
	DefaultWorkerName = "worker"
)

// Dispatcher defaults, applied by NewDispatcher to a zero DispatcherConfig
// field.
const (
	// DefaultMaxAttempts bounds the attempts at a job whose workers keep
	// disappearing; the job then fails.
	DefaultMaxAttempts = 3
	// DefaultDispatchInterval is the dispatcher's polling fallback and
	// lease-expiry scan period.
	DefaultDispatchInterval = time.Second
	// DefaultDispatchRetryBase is the first delay before a failed hand-off
	// is tried again; it doubles per failure.
	DefaultDispatchRetryBase = time.Second
	// DefaultDispatchRetryMax caps the delay between hand-off retries; it
	// is also the delay after an executor refuses a job outright.
	DefaultDispatchRetryMax = time.Minute
	// DefaultHandoffTimeout is how long a handed-off job may wait for a
	// worker to claim it before it is handed off again (after the old call
	// is canceled); after DefaultMaxAttempts such hand-offs the job fails.
	DefaultHandoffTimeout = 5 * time.Minute
	// DefaultDispatchConcurrency bounds the hand-offs one dispatcher makes
	// at once.
	DefaultDispatchConcurrency = 16
	// DefaultDispatchTimeout bounds one hand-off (one executor call).
	DefaultDispatchTimeout = 30 * time.Second
)

// DefaultWorkers is how many jobs one process runs at once. The app does not
// apply it itself: it sizes the pool of workers that the command wires up.
const DefaultWorkers = 8

// setDefault sets *v to def when *v is the zero value.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
