// One attempt at a job: its state, how it runs, and how it ends (finish, or give back to pending).

package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// writeTimeout bounds a store call that records an attempt's outcome or
// keeps its lease (storeCall).
const writeTimeout = 10 * time.Second

// storeCall is the context of such a store call: bounded by writeTimeout,
// detached from ctx's cancellation, since the attempt's context may be done
// already or end half-way through the call (and a query canceled half-way
// costs Postgres its connection, which the pool then opens anew).
func storeCall(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
}

// run is the state of one attempt at one job.
type run struct {
	w      *Worker
	job    domain.Job
	lease  ports.Lease
	llm    ports.LLM
	log    *slog.Logger
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	results map[string]domain.SectionResult
	// announced holds the sections whose start a write of this attempt
	// recorded (the claim, or the save that handed them a place).
	announced map[string]bool
	// fatal is a provider error that every further call would repeat (bad
	// credentials, unknown model): once set, sections fail without calling.
	fatal error
	// unsaved is the store error that kept a finished section from being
	// saved, for the reason the attempt gives when it ends.
	unsaved error
	// budget is what the job spent against its cost cap.
	budget budget
	// saver group-commits the attempt's section saves.
	saver saver
}

// process runs one attempt at a claimed job and ends it: finished, given
// back to pending, or left to whoever canceled or took it over.
func (w *Worker) process(parent context.Context, job domain.Job) (domain.Job, error) {
	r := &run{w: w, job: job, lease: ports.Lease{JobID: job.ID, Attempt: job.Attempt},
		log: w.log.With("job_id", job.ID, "attempt", job.Attempt), results: map[string]domain.SectionResult{},
		announced: map[string]bool{}}
	r.log.Info("job claimed", "provider", job.Provider, "sections", len(job.Sections))
	llm, err := w.cfg.Providers.Resolve(job.Provider)
	if err != nil {
		return r.giveBack(parent, fmt.Errorf("%w: %w", ErrProviderUnavailable, err))
	}
	r.llm = llm
	saved, err := w.cfg.Store.Sections(parent, job.ID)
	if err != nil {
		return r.giveBack(parent, fmt.Errorf("load sections: %w", err))
	}
	for _, s := range saved {
		r.results[s.Key] = s
	}
	if first, ok := job.FirstSection(); ok && r.results[first.Key].Status == domain.SectionRunning {
		r.announced[first.Key] = true // the claim started it
	}
	r.budget = newBudget(job.MaxCostUSD, saved)

	runCtx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r.cancel = cancel
	ctx, cancelTimeout := context.WithTimeoutCause(runCtx, w.cfg.JobTimeout, errJobTimeout)
	defer cancelTimeout()

	done := r.startSections(ctx)
	r.keepLease(ctx, done)
	<-done // the lease keeper may have stopped first: the run canceled, the job taken over
	return r.end(parent, context.Cause(ctx))
}

// end decides how the attempt ends once no section is running.
func (r *run) end(parent context.Context, cause error) (domain.Job, error) {
	switch {
	case errors.Is(cause, domain.ErrLeaseLost), errors.Is(cause, errJobCanceled):
		return r.stopped(parent, cause)
	case errors.Is(cause, errJobTimeout):
		return r.finish(parent, domain.JobFailed, fmt.Sprintf("job timed out after %s; unfinished sections: %s%s",
			r.w.cfg.JobTimeout, strings.Join(r.unfinished(), ", "), r.unverifiedNote()))
	}
	if pending := r.unfinished(); len(pending) > 0 {
		r.mu.Lock()
		unsaved := r.unsaved
		r.mu.Unlock()
		if unsaved != nil {
			return r.giveBack(parent, fmt.Errorf("%d sections not done; the store failed: %w", len(pending), unsaved))
		}
		return r.giveBack(parent, fmt.Errorf("worker stopping with %d sections not done", len(pending)))
	}
	if keys := r.unverified(); len(keys) > 0 {
		return r.giveBack(parent, fmt.Errorf("worker stopping with %d %w: %s", len(keys), errUnverified, strings.Join(keys, ", ")))
	}
	if status, msg, capped := r.capEnd(); capped && (status == domain.JobFailed || r.failedCount() == 0) {
		return r.finish(parent, status, msg)
	}
	if n := r.failedCount(); n > 0 {
		return r.finish(parent, domain.JobFailed, fmt.Sprintf("%d of %d sections failed: %s",
			n, len(r.job.Sections), strings.Join(r.failed(), "; ")))
	}
	return r.finish(parent, domain.JobCompleted, "")
}

// finish moves the job to a terminal status under the lease and calls the
// JobDone hook. A store error is retried as a section save is. When the
// finish did not land, the job says why: canceled or taken over meanwhile
// (stopped), or finished already by an earlier try whose answer was lost.
func (r *run) finish(parent context.Context, status domain.JobStatus, msg string) (domain.Job, error) {
	ctx, cancel := storeCall(parent)
	defer cancel()
	var job domain.Job
	err := r.retryWrite(ctx, "finish job", func(ctx context.Context) (err error) {
		job, err = r.w.cfg.Store.Finish(ctx, r.lease, status, msg)
		return err
	})
	if err != nil && !errors.Is(err, domain.ErrInvalid) {
		// A lost lease, or an outcome the store never told (its connection
		// ended, or the time ran out, as for a process stopped past its
		// lease): the job says whose it is now. A fresh deadline: ctx's may
		// be spent.
		readCtx, cancelRead := storeCall(parent)
		defer cancelRead()
		cur, getErr := r.w.cfg.Store.Get(readCtx, r.job.ID)
		switch {
		case getErr != nil:
		case cur.Attempt == r.lease.Attempt && cur.Status == status:
			job, err = cur, nil // an earlier try's lost answer had finished it
		case cur.Attempt != r.lease.Attempt || cur.Status != domain.JobProcessing:
			return r.stopped(parent, domain.ErrLeaseLost)
		}
	}
	if err != nil {
		r.log.Warn("could not finish job", "status", status, "err", err)
		return r.job, err
	}
	r.log.Info("job finished", "status", status, "progress", job.Progress(), "error", msg)
	if r.w.cfg.Hooks.JobDone != nil {
		r.w.cfg.Hooks.JobDone(ctx, job)
	}
	return job, nil
}

// retryWrite runs write, a store write under the lease, until it succeeds,
// fails for good (a lost lease, an invalid write, an unknown job) or ctx
// ends, with the backoff of section saves between tries: a database blip
// (a restart, a connection the server ended) does not end an attempt.
func (r *run) retryWrite(ctx context.Context, what string, write func(context.Context) error) error {
	for try := 1; ; try++ {
		err := write(ctx)
		if err == nil || errors.Is(err, domain.ErrLeaseLost) || errors.Is(err, domain.ErrInvalid) || errors.Is(err, domain.ErrNotFound) {
			return err
		}
		wait := min(saveBackoff<<min(try-1, 8), maxSaveBackoff)
		r.log.Warn("store write failed; retrying", "write", what, "try", try, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// stopped ends an attempt that someone else ended: the job was canceled
// (ErrJobFinished) or taken over (domain.ErrLeaseLost).
func (r *run) stopped(parent context.Context, cause error) (domain.Job, error) {
	r.log.Info("job stopped: it was canceled or taken over", "cause", cause)
	job, err := r.w.cfg.Store.Get(context.WithoutCancel(parent), r.job.ID)
	if err != nil {
		return r.job, domain.ErrLeaseLost
	}
	if job.Status == domain.JobCanceled {
		return job, fmt.Errorf("%w: job %s is canceled", ErrJobFinished, job.ID)
	}
	return job, domain.ErrLeaseLost
}

// giveBack releases the job to pending for another attempt, and returns
// ErrReleased with the reason. A job canceled or taken over meanwhile (the
// executor's cancel stopped the attempt before the change feed did) is left
// as it is, as stopped says.
func (r *run) giveBack(parent context.Context, reason error) (domain.Job, error) {
	ctx, cancel := storeCall(parent)
	defer cancel()
	err := r.retryWrite(ctx, "release job", func(ctx context.Context) error {
		return r.w.cfg.Store.Release(ctx, r.lease, reason.Error())
	})
	if errors.Is(err, domain.ErrLeaseLost) {
		return r.stopped(parent, err)
	} else if err != nil {
		r.log.Warn("could not release job", "err", err)
		return r.job, err
	}
	r.log.Info("job released to pending", "reason", reason)
	return r.job, fmt.Errorf("%w: %v", ErrReleased, reason)
}

// unfinished lists the job's sections that are neither completed, failed
// nor skipped.
func (r *run) unfinished() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for _, k := range r.job.Sections {
		if s := r.results[k].Status; s != domain.SectionCompleted && s != domain.SectionFailed && s != domain.SectionSkipped {
			keys = append(keys, k)
		}
	}
	return keys
}

// failed describes the failed sections, grouped by error:
// "key1, key2 (error)".
func (r *run) failed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []string
	keys := map[string][]string{}
	for _, k := range r.job.Sections {
		if s := r.results[k]; s.Status == domain.SectionFailed {
			if _, seen := keys[s.Error]; !seen {
				errs = append(errs, s.Error)
			}
			keys[s.Error] = append(keys[s.Error], k)
		}
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = fmt.Sprintf("%s (%s)", strings.Join(keys[e], ", "), e)
	}
	return out
}

// failedCount is the number of failed sections.
func (r *run) failedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.job.Sections {
		if r.results[k].Status == domain.SectionFailed {
			n++
		}
	}
	return n
}
