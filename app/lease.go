// Keeping an attempt's lease: heartbeats, and stopping when the job is canceled or taken over.

package app

import (
	"context"
	"errors"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// heartbeat extends the lease every third of its length, and stops the run
// when the lease was lost.
func (r *run) heartbeat(ctx context.Context) {
	t := time.NewTicker(r.w.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := r.w.cfg.Store.Heartbeat(ctx, r.lease, r.w.cfg.Lease)
			switch {
			case errors.Is(err, domain.ErrLeaseLost):
				r.cancel(domain.ErrLeaseLost)
				return
			case err != nil && ctx.Err() == nil:
				r.log.Warn("heartbeat failed", "err", err)
			}
		}
	}
}

// watchCancel stops the run as soon as the job is canceled or moved to
// another attempt, without waiting for the next fenced write.
func (r *run) watchCancel(ctx context.Context) {
	changed, err := r.w.cfg.Changes.Watch(ctx, r.job.ID)
	if err != nil {
		r.log.Warn("cannot watch job for cancellation; relying on heartbeats", "err", err)
		return
	}
	// Look once now: a cancel may have landed between the claim and Watch.
	if r.stillOurs(ctx) {
		for range changed {
			if !r.stillOurs(ctx) {
				return
			}
		}
	}
}

// stillOurs re-reads the job and stops the run when it was canceled or moved
// to another attempt.
func (r *run) stillOurs(ctx context.Context) bool {
	job, err := r.w.cfg.Store.Get(ctx, r.job.ID)
	switch {
	case err != nil:
		return true // the next change or fenced write tells
	case job.Status == domain.JobCanceled:
		r.cancel(errJobCanceled)
		return false
	case job.Attempt != r.job.Attempt || job.Status != domain.JobProcessing:
		r.cancel(domain.ErrLeaseLost)
		return false
	}
	return true
}
