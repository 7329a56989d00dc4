package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// WorkerConfig holds a Worker's dependencies and limits. Zero limits take
// the defaults in defaults.go.
type WorkerConfig struct {
	Store     ports.JobStore
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
	Hooks                   Hooks
	Logger                  *slog.Logger
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

// RunNext claims the oldest pending job and processes it.
func (w *Worker) RunNext(ctx context.Context, claimed func(jobID string)) (bool, error) {
	if w.draining() {
		return false, nil
	}
	job, err := w.cfg.Store.Claim(ctx, ports.ClaimRequest{Worker: w.cfg.Name, Lease: w.cfg.Lease, Executor: w.cfg.Executor})
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
func (w *Worker) Work(ctx context.Context, jobID string, wait bool) (domain.Job, error) {
	for {
		job, err := w.cfg.Store.Claim(ctx, ports.ClaimRequest{JobID: jobID, Worker: w.cfg.Name, Lease: w.cfg.Lease, Executor: w.cfg.Executor})
		switch {
		case err == nil:
			return w.process(ctx, job)
		case errors.Is(err, domain.ErrLeaseHeld) && wait:
			if err := w.waitForLease(ctx, jobID); err != nil {
				return domain.Job{}, err
			}
		case errors.Is(err, domain.ErrConflict):
			cur, gerr := w.cfg.Store.Get(ctx, jobID)
			if gerr != nil {
				return domain.Job{}, gerr
			}
			return cur, fmt.Errorf("%w: job %s is %s", ErrJobFinished, jobID, cur.Status)
		default:
			return domain.Job{}, err
		}
	}
}

// waitForLease waits until the job's current lease expires, or it changes.
func (w *Worker) waitForLease(ctx context.Context, jobID string) error {
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed, err := w.cfg.Changes.Watch(watchCtx, jobID)
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
	// fatal is a provider error that every further call would repeat (bad
	// credentials, unknown model): once set, sections fail without calling.
	fatal error
}

func (w *Worker) process(parent context.Context, job domain.Job) (domain.Job, error) {
	r := &run{w: w, job: job, lease: ports.Lease{JobID: job.ID, Attempt: job.Attempt},
		log: w.log.With("job_id", job.ID, "attempt", job.Attempt), results: map[string]domain.SectionResult{}}
	r.log.Info("job claimed", "provider", job.Provider, "sections", len(job.Sections))
	llm, err := w.cfg.Providers.Resolve(job.Provider)
	if err != nil {
		return r.finish(parent, domain.JobFailed, fmt.Sprintf("provider %q is not available in this worker: %v", job.Provider, err))
	}
	r.llm = llm
	saved, err := w.cfg.Store.Sections(parent, job.ID)
	if err != nil {
		return r.giveBack(parent, fmt.Errorf("load sections: %w", err))
	}
	for _, s := range saved {
		r.results[s.Key] = s
	}

	runCtx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r.cancel = cancel
	ctx, cancelTimeout := context.WithTimeoutCause(runCtx, w.cfg.JobTimeout, errJobTimeout)
	defer cancelTimeout()

	var bg sync.WaitGroup
	bg.Go(func() { r.heartbeat(ctx) })
	bg.Go(func() { r.watchCancel(ctx) })
	r.runSections(ctx)
	cause := context.Cause(ctx)
	cancel(nil) // stop heartbeat and watcher
	bg.Wait()
	return r.end(parent, cause)
}

// end decides how the attempt ends once no section is running.
func (r *run) end(parent context.Context, cause error) (domain.Job, error) {
	switch {
	case errors.Is(cause, domain.ErrLeaseLost), errors.Is(cause, errJobCanceled):
		r.log.Info("job stopped: it was canceled or taken over", "cause", cause)
		job, err := r.w.cfg.Store.Get(context.WithoutCancel(parent), r.job.ID)
		if err != nil {
			return r.job, domain.ErrLeaseLost
		}
		if job.Status == domain.JobCanceled {
			return job, fmt.Errorf("%w: job %s is canceled", ErrJobFinished, job.ID)
		}
		return job, domain.ErrLeaseLost
	case errors.Is(cause, errJobTimeout):
		return r.finish(parent, domain.JobFailed, fmt.Sprintf("job timed out after %s; unfinished sections: %s",
			r.w.cfg.JobTimeout, strings.Join(r.unfinished(), ", ")))
	}
	if pending := r.unfinished(); len(pending) > 0 {
		return r.giveBack(parent, fmt.Errorf("worker stopping with %d sections not done", len(pending)))
	}
	if n := r.failedCount(); n > 0 {
		return r.finish(parent, domain.JobFailed, fmt.Sprintf("%d of %d sections failed: %s",
			n, len(r.job.Sections), strings.Join(r.failed(), "; ")))
	}
	return r.finish(parent, domain.JobCompleted, "")
}

func (r *run) finish(parent context.Context, status domain.JobStatus, msg string) (domain.Job, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
	defer cancel()
	job, err := r.w.cfg.Store.Finish(ctx, r.lease, status, msg)
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

func (r *run) giveBack(parent context.Context, reason error) (domain.Job, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
	defer cancel()
	if err := r.w.cfg.Store.Release(ctx, r.lease, reason.Error()); err != nil {
		r.log.Warn("could not release job", "err", err)
		return r.job, err
	}
	r.log.Info("job released to pending", "reason", reason)
	return r.job, fmt.Errorf("%w: %v", ErrReleased, reason)
}

// unfinished lists the job's sections that are neither completed nor failed.
func (r *run) unfinished() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for _, k := range r.job.Sections {
		if s := r.results[k].Status; s != domain.SectionCompleted && s != domain.SectionFailed {
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

// runSections runs jurisdiction first, then the others in parallel.
func (r *run) runSections(ctx context.Context) {
	jctx := ""
	if slices.Contains(r.job.Sections, domain.JurisdictionKey) {
		spec, _ := domain.LookupSection(domain.JurisdictionKey)
		jctx = jurisdictionContext(r.section(ctx, spec, ""))
	}
	sem := make(chan struct{}, r.w.cfg.SectionConcurrency)
	var wg sync.WaitGroup
	for _, key := range r.job.Sections {
		if key == domain.JurisdictionKey {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		case <-r.w.stopping:
		}
		if ctx.Err() != nil || r.w.draining() {
			break
		}
		spec, _ := domain.LookupSection(key)
		wg.Go(func() {
			defer func() { <-sem }()
			r.section(ctx, spec, jctx)
		})
	}
	wg.Wait()
}

// section runs one section unless an earlier attempt completed it, and
// returns its result.
func (r *run) section(ctx context.Context, spec domain.SectionSpec, jctx string) domain.SectionResult {
	r.mu.Lock()
	prev, done := r.results[spec.Key]
	r.mu.Unlock()
	if done && prev.Status == domain.SectionCompleted {
		return prev
	}
	if ctx.Err() != nil || r.w.draining() {
		return prev
	}
	res := domain.NewSectionResult(spec)
	res.Status = domain.SectionRunning
	res.Provider, res.Model = r.llm.Name(), r.llm.Model()
	started := time.Now().UTC()
	res.StartedAt = &started
	if !r.save(ctx, res) {
		return res
	}
	if h := r.w.cfg.Hooks.SectionStarted; h != nil {
		h(r.job, spec.Key)
	}
	r.research(ctx, spec, jctx, &res)
	if ctx.Err() != nil && !errors.Is(context.Cause(ctx), errJobTimeout) {
		// Canceled, taken over or shut down hard: leave no verdict; a
		// later attempt runs the section again.
		return res
	}
	finished := time.Now().UTC()
	res.FinishedAt = &finished
	res.LatencyMS = finished.Sub(started).Milliseconds()
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if r.save(saveCtx, res) {
		r.log.Info("section finished", "section", spec.Key, "status", res.Status, "latency_ms", res.LatencyMS,
			"provider_calls", res.Attempts, "error", res.Error)
		if h := r.w.cfg.Hooks.SectionDone; h != nil {
			h(r.job, res)
		}
	}
	return res
}

// save writes the section under the lease and records it; on a lost lease
// it stops the run.
func (r *run) save(ctx context.Context, res domain.SectionResult) bool {
	if err := r.w.cfg.Store.SaveSection(ctx, r.lease, res); err != nil {
		if errors.Is(err, domain.ErrLeaseLost) {
			r.cancel(domain.ErrLeaseLost)
		} else {
			r.log.Warn("could not save section", "section", res.Key, "err", err)
		}
		return false
	}
	r.mu.Lock()
	r.results[res.Key] = res
	r.mu.Unlock()
	return true
}

// research asks the provider, repairs an unusable answer once, and fills
// res with the outcome: completed, or failed with the error.
func (r *run) research(ctx context.Context, spec domain.SectionSpec, jctx string, res *domain.SectionResult) {
	req := ports.SectionRequest{JobID: r.job.ID, Attempt: r.job.Attempt, Section: spec, Address: r.job.Address,
		System: systemPrompt, User: buildUserPrompt(spec, r.job.Address, jctx), Schema: answerSchema, SchemaName: answerSchemaName}
	resp, err := r.call(ctx, req, res)
	if err != nil {
		r.fail(ctx, res, err)
		return
	}
	a, perr := parseOrTruncated(resp)
	if perr != nil {
		r.log.Warn("section answer unusable; asking once more", "section", spec.Key, "problem", perr)
		r.hookCall("invalid_output", domain.Usage{}, 0)
		repair := req
		repair.User = buildRepairPrompt(req.User, resp.Content, perr)
		first := resp
		if resp, err = r.call(ctx, repair, res); err != nil {
			r.fail(ctx, res, err)
			return
		}
		if len(resp.Sources) == 0 {
			resp.Sources, resp.Grounded = first.Sources, first.Grounded
		}
		if a, perr = parseOrTruncated(resp); perr != nil {
			r.fail(ctx, res, fmt.Errorf("answer still unusable after one repair attempt: %w", perr))
			return
		}
	}
	applyAnswer(res, a, resp)
	res.Status = domain.SectionCompleted
}

func parseOrTruncated(resp ports.SectionResponse) (answer, error) {
	if resp.Truncated {
		return answer{}, fmt.Errorf("%w: the answer was cut off at the provider's output limit", errInvalidAnswer)
	}
	return parseAnswer(resp.Content)
}

func (r *run) fail(ctx context.Context, res *domain.SectionResult, err error) {
	res.Status = domain.SectionFailed
	res.Error = err.Error()
	if errors.Is(context.Cause(ctx), errJobTimeout) {
		res.Error = "job timed out before the section finished"
	}
}

// call performs one provider call with retries for retryable errors:
// exponential backoff with jitter, at least the server's Retry-After.
func (r *run) call(ctx context.Context, req ports.SectionRequest, res *domain.SectionResult) (ports.SectionResponse, error) {
	r.mu.Lock()
	fatal := r.fatal
	r.mu.Unlock()
	if fatal != nil {
		return ports.SectionResponse{}, fatal
	}
	for try := 1; ; try++ {
		start := time.Now()
		resp, err := r.llm.Research(ctx, req)
		res.Attempts++
		took := time.Since(start)
		if err == nil {
			res.Usage = res.Usage.Add(resp.Usage)
			r.hookCall("ok", resp.Usage, took)
			return resp, nil
		}
		if ctx.Err() != nil {
			r.hookCall("canceled", domain.Usage{}, took)
			return resp, err
		}
		var pe *ports.ProviderError
		retryable := errors.As(err, &pe) && pe.Retryable
		if !retryable {
			r.hookCall("permanent_error", domain.Usage{}, took)
			if pe != nil && pe.EnvVar != "" {
				// Credentials or configuration: every other section would
				// get the same answer, so they are not sent.
				r.mu.Lock()
				r.fatal = err
				r.mu.Unlock()
			}
			return resp, err
		}
		r.hookCall("retryable_error", domain.Usage{}, took)
		if try >= r.w.cfg.SectionAttempts || ctx.Err() != nil {
			return resp, fmt.Errorf("gave up after %d attempts: %w", try, err)
		}
		delay := r.w.backoff(try)
		if pe.RetryAfter > delay {
			delay = pe.RetryAfter
		}
		r.log.Info("provider call failed; retrying", "section", req.Section.Key, "try", try, "delay", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, err
		case <-t.C:
		}
	}
}

func (r *run) hookCall(outcome string, u domain.Usage, took time.Duration) {
	if h := r.w.cfg.Hooks.ProviderCall; h != nil {
		h(r.llm.Name(), outcome, u, took)
	}
}

// backoff is the delay before retry number try (1-based): base*2^(try-1),
// capped, with up to 50% jitter.
func (w *Worker) backoff(try int) time.Duration {
	d := w.cfg.BackoffBase << (try - 1)
	if d > w.cfg.BackoffMax || d <= 0 {
		d = w.cfg.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}
