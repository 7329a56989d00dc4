// Keeping an attempt's lease: heartbeats, and stopping when the job is canceled or taken over.

package app

import (
	"context"
	"errors"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// keepLease keeps the attempt's lease until its sections are done (done
// closed) or the run is stopped, on the attempt's own goroutine: it
// extends the lease every third of its length, and stops the run as soon
// as the job is canceled or moved to another attempt (the change feed),
// without waiting for the next fenced write, or when a heartbeat finds the
// lease lost.
func (r *run) keepLease(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(r.w.cfg.Lease / 3)
	defer t.Stop()
	changed, err := r.w.cfg.Changes.WatchState(ctx, r.job.ID)
	switch {
	case err != nil:
		r.log.Warn("cannot watch job for cancellation; relying on heartbeats", "err", err)
		changed = nil // a nil channel never delivers: heartbeats only
	case !r.stillOurs(ctx): // a cancel may have landed between the claim and Watch
		return
	}
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			err := r.heartbeat(ctx)
			switch {
			case errors.Is(err, domain.ErrLeaseLost):
				r.cancel(domain.ErrLeaseLost)
				return
			case err != nil && ctx.Err() == nil:
				r.log.Warn("heartbeat failed", "err", err)
			}
		case _, ok := <-changed:
			if !ok {
				changed = nil // the feed ended (the store closing): heartbeats only
				continue
			}
			if !r.stillOurs(ctx) {
				return
			}
		}
	}
}

// heartbeat extends the lease once.
func (r *run) heartbeat(ctx context.Context) error {
	callCtx, cancel := storeCall(ctx)
	defer cancel()
	return r.w.cfg.Store.Heartbeat(callCtx, r.lease, r.w.cfg.Lease)
}

// stillOurs re-reads the job and stops the run when it was canceled or moved
// to another attempt.
func (r *run) stillOurs(ctx context.Context) bool {
	callCtx, cancel := storeCall(ctx)
	defer cancel()
	job, err := r.w.cfg.Store.Get(callCtx, r.job.ID)
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
