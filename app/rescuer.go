// Rescuing jobs whose worker died: every process that runs workers does it.

package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/codecheck/codecheck/ports"
)

// RescuerConfig holds a Rescuer's dependencies.
type RescuerConfig struct {
	Store ports.JobStore
	// MaxAttempts bounds the attempts at a job whose workers keep
	// disappearing (default DefaultMaxAttempts).
	MaxAttempts int
	// Interval is how often expired leases are looked for (default
	// DefaultDispatchInterval).
	Interval time.Duration
	Hooks    Hooks
	Logger   *slog.Logger
}

// Rescuer re-queues jobs whose lease expired (their worker died) and fails
// those out of attempts. Several rescuers side by side, in any processes,
// are safe: the store passes over rows another one is rescuing. So a fleet
// of `codecheck worker` processes recovers its own crashes without a
// `serve`.
type Rescuer struct {
	cfg RescuerConfig
	log *slog.Logger
}

// NewRescuer checks cfg and returns a Rescuer.
func NewRescuer(cfg RescuerConfig) (*Rescuer, error) {
	if cfg.Store == nil {
		return nil, errors.New("app.NewRescuer: Store is required")
	}
	setDefault(&cfg.MaxAttempts, DefaultMaxAttempts)
	setDefault(&cfg.Interval, DefaultDispatchInterval)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Rescuer{cfg: cfg, log: log.With("component", "rescuer")}, nil
}

// Run rescues every Interval until ctx is done.
func (r *Rescuer) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		r.Rescue(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Rescue makes one pass over expired leases.
func (r *Rescuer) Rescue(ctx context.Context) {
	res, err := r.cfg.Store.RescueExpired(ctx, r.cfg.MaxAttempts)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("cannot rescue expired leases", "err", err)
		}
		return
	}
	for _, j := range res.Requeued {
		r.log.Warn("worker lost; job re-queued", "job_id", j.ID, "attempt", j.Attempt)
	}
	for _, j := range res.Failed {
		r.log.Error("job failed: out of attempts", "job_id", j.ID, "attempt", j.Attempt, "error", j.Error)
		if r.cfg.Hooks.JobDone != nil {
			r.cfg.Hooks.JobDone(ctx, j)
		}
	}
}
