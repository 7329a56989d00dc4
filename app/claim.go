// Claiming a job: the next pending one, or a given one, waiting out another worker's lease if asked.

package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// RunNext claims the oldest pending job and processes it.
//
// It claims only jobs whose LLM provider this worker has; with none
// configured it claims nothing.
func (w *Worker) RunNext(ctx context.Context, claimed func(jobID string)) (bool, error) {
	if w.draining() || len(w.cfg.Providers.Names()) == 0 {
		return false, nil
	}
	job, err := w.cfg.Store.Claim(ctx, w.claimRequest(""))
	if errors.Is(err, domain.ErrNoJob) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim: %w", err)
	}
	if claimed != nil {
		claimed(job.ID)
	}
	_, err = w.process(ctx, job)
	return true, err
}

// RunJob claims the job and processes it. A job that is finished or held
// by another worker is left alone: that is not an error.
func (w *Worker) RunJob(ctx context.Context, jobID string) error {
	_, err := w.Work(ctx, jobID, false)
	if errors.Is(err, ErrJobFinished) || errors.Is(err, domain.ErrLeaseHeld) {
		return nil
	}
	return err
}

// Work claims the job and processes it, and returns the job as it ended.
// While another worker holds a live lease on the job it waits for the lease
// to expire if wait is set, and returns domain.ErrLeaseHeld otherwise. A job
// already finished is returned with ErrJobFinished; domain.ErrNotFound for
// an unknown job.
//
// A job whose LLM provider this worker lacks is left as it was, with
// ErrProviderUnavailable wrapping the reason (which names what to
// configure).
func (w *Worker) Work(ctx context.Context, jobID string, wait bool) (domain.Job, error) {
	job, err := w.cfg.Store.Get(ctx, jobID)
	if err != nil {
		return domain.Job{}, err
	}
	if _, err := w.cfg.Providers.Resolve(job.Provider); err != nil && !job.Status.Terminal() {
		return job, fmt.Errorf("%w: job %s: %w", ErrProviderUnavailable, jobID, err)
	}
	for {
		job, err := w.cfg.Store.Claim(ctx, w.claimRequest(jobID))
		switch {
		case err == nil:
			return w.process(ctx, job)
		case errors.Is(err, domain.ErrLeaseHeld) && wait:
			if err := w.waitForLease(ctx, jobID); err != nil {
				return domain.Job{}, err
			}
		case errors.Is(err, domain.ErrConflict):
			current, getErr := w.cfg.Store.Get(ctx, jobID)
			if getErr != nil {
				return domain.Job{}, getErr
			}
			return current, fmt.Errorf("%w: job %s is %s", ErrJobFinished, jobID, current.Status)
		default:
			return domain.Job{}, err
		}
	}
}

// claimRequest asks for the job with jobID, or for the oldest pending job
// of a provider this worker has when jobID is empty.
func (w *Worker) claimRequest(jobID string) ports.ClaimRequest {
	return ports.ClaimRequest{JobID: jobID, Worker: w.cfg.Name, Lease: w.cfg.Lease, Executor: w.cfg.Executor,
		Providers: w.cfg.Providers.Names()}
}

// waitForLease waits until the job's current lease expires, or it changes.
func (w *Worker) waitForLease(ctx context.Context, jobID string) error {
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed, err := w.cfg.Changes.WatchState(watchCtx, jobID)
	if err != nil {
		return err
	}
	job, err := w.cfg.Store.Get(ctx, jobID)
	if err != nil {
		return err
	}
	wait := 100 * time.Millisecond
	if job.LeaseExpiresAt != nil {
		wait = max(time.Until(*job.LeaseExpiresAt)+50*time.Millisecond, wait)
	}
	w.log.Info("job is held by another worker; waiting for its lease to expire",
		"job_id", jobID, "attempt", job.Attempt, "wait", wait.Round(time.Millisecond))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-changed:
	}
	return nil
}
