// Running an attempt's sections: jurisdiction first, the others in parallel, each researched, repaired once if unusable, and saved.

package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// runSections runs jurisdiction first, then the others in parallel, each
// told what the jurisdiction section found.
func (r *run) runSections(ctx context.Context) {
	// prior is what the jurisdiction section found, for the others'
	// prompts, searches and official sources.
	var prior priorJurisdiction
	var juris domain.SectionResult
	if slices.Contains(r.job.Sections, domain.JurisdictionKey) {
		spec, _ := domain.LookupSection(domain.JurisdictionKey)
		juris = r.section(ctx, spec, priorJurisdiction{})
		prior = priorFrom(juris)
	}
	slots := make(chan struct{}, r.w.cfg.SectionConcurrency)
	var wg sync.WaitGroup
	for _, key := range r.job.Sections {
		if key == domain.JurisdictionKey && !r.job.Verify {
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		case <-r.w.stopping:
		}
		if ctx.Err() != nil || r.w.draining() {
			break
		}
		spec, _ := domain.LookupSection(key)
		wg.Go(func() {
			defer func() { <-slots }()
			if key == domain.JurisdictionKey {
				r.verify(ctx, spec, juris) // researched first; verified beside the others
				return
			}
			r.researchAndVerify(ctx, spec, prior)
		})
	}
	wg.Wait()
}

// section runs one section unless an earlier attempt completed it, and
// returns its result.
func (r *run) section(ctx context.Context, spec domain.SectionSpec, prior priorJurisdiction) domain.SectionResult {
	r.mu.Lock()
	prev := r.results[spec.Key]
	r.mu.Unlock()
	if prev.Status == domain.SectionCompleted {
		return prev
	}
	if ctx.Err() != nil || r.w.draining() {
		return prev
	}
	if reused, ok := r.reuse(ctx, spec, prior); ok {
		return reused
	}
	res := domain.NewSectionResult(spec)
	res.Status = domain.SectionRunning
	res.Provider, res.Model = r.llm.Name(), r.llm.Model()
	// What earlier attempts spent on the section stays counted: in its
	// usage and cost, in the calls it took, and so in the job's cap.
	res.Usage, res.Attempts = prev.Usage, prev.Attempts
	started := time.Now().UTC()
	res.StartedAt = &started
	startCtx, cancelStart := context.WithTimeout(ctx, r.w.cfg.Lease)
	defer cancelStart()
	if !r.save(startCtx, res) {
		return res
	}
	if h := r.w.cfg.Hooks.SectionStarted; h != nil {
		h(r.job, spec.Key)
	}
	r.research(ctx, spec, prior, &res)
	if ctx.Err() != nil && !errors.Is(context.Cause(ctx), errJobTimeout) {
		// Canceled, taken over or shut down hard: leave no verdict; a
		// later attempt runs the section again.
		return res
	}
	finished := time.Now().UTC()
	res.FinishedAt = &finished
	res.LatencyMS = finished.Sub(started).Milliseconds()
	// The answer is paid for: keep trying to save it for as long as the
	// lease can hold without a heartbeat, even past a cancel of ctx.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.w.cfg.Lease)
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

// save writes the section under the lease and records it. A store error is
// retried with backoff until ctx ends, so that a database blip does not
// throw away an answer that was paid for; a lost lease stops the run, and an
// invalid result is not retried. A section that could not be saved stays
// unfinished, and the attempt's end says why.
func (r *run) save(ctx context.Context, res domain.SectionResult) bool {
	for try := 1; ; try++ {
		err := r.w.cfg.Store.SaveSection(ctx, r.lease, res)
		switch {
		case err == nil:
			r.mu.Lock()
			r.results[res.Key] = res
			r.mu.Unlock()
			return true
		case errors.Is(err, domain.ErrLeaseLost):
			r.cancel(domain.ErrLeaseLost)
			return false
		case errors.Is(err, domain.ErrInvalid), errors.Is(err, domain.ErrNotFound):
			r.log.Error("section not saved", "section", res.Key, "status", res.Status, "err", err)
			r.mu.Lock()
			r.unsaved = fmt.Errorf("section %s not saved: %w", res.Key, err)
			r.mu.Unlock()
			return false
		}
		wait := min(saveBackoff<<min(try-1, 8), maxSaveBackoff)
		r.log.Warn("could not save section; retrying", "section", res.Key, "status", res.Status, "try", try, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			r.mu.Lock()
			r.unsaved = fmt.Errorf("section %s not saved after %d tries: %w", res.Key, try, err)
			r.mu.Unlock()
			return false
		case <-time.After(wait):
		}
	}
}

// Backoff between tries to save a section.
const (
	saveBackoff    = 100 * time.Millisecond
	maxSaveBackoff = 2 * time.Second
)

// priorJurisdiction is what the jurisdiction section gives the others.
type priorJurisdiction struct {
	notes string               // condensed for their prompts
	data  *domain.Jurisdiction // nil when it found none
}

func priorFrom(s domain.SectionResult) priorJurisdiction {
	p := priorJurisdiction{notes: jurisdictionContext(s)}
	if s.Status == domain.SectionCompleted {
		p.data = s.Jurisdiction
	}
	return p
}

// research asks the provider, with the search narrowed to the
// jurisdiction's domains when it has some, and fills res with the outcome:
// completed, or failed with the error. A narrowed search that gave no
// sources is asked once more on the open web; the narrowed answer stays if
// that one fails.
func (r *run) research(ctx context.Context, spec domain.SectionSpec, prior priorJurisdiction, res *domain.SectionResult) {
	req := ports.SectionRequest{JobID: r.job.ID, Attempt: r.job.Attempt, Section: spec, Address: r.job.Address,
		System: systemPrompt, User: buildUserPrompt(spec, r.job.Address, r.job.Project, prior.notes),
		Schema: schemaFor(spec.Key), SchemaName: answerSchemaName}
	if spec.Key != domain.JurisdictionKey {
		req.AllowedDomains = searchDomains(prior.data)
	}
	r.ask(ctx, req, res)
	if len(req.AllowedDomains) > 0 && res.Status == domain.SectionCompleted && len(res.Sources) == 0 && ctx.Err() == nil {
		r.log.Info("no sources on the jurisdiction's domains; searching the open web", "section", spec.Key,
			"domains", req.AllowedDomains)
		req.AllowedDomains = nil
		open := *res
		r.ask(ctx, req, &open)
		if open.Status != domain.SectionCompleted {
			open.Status, open.Error = res.Status, res.Error
			open.Summary, open.Findings, open.Sources = res.Summary, res.Findings, res.Sources
		}
		*res = open
	}
	if spec.Key != domain.JurisdictionKey {
		markOfficial(res.Sources, prior.data)
	}
}

// ask makes one request, repairing an unusable answer once, and fills res.
func (r *run) ask(ctx context.Context, req ports.SectionRequest, res *domain.SectionResult) {
	resp, err := r.call(ctx, req, res)
	if err != nil {
		r.fail(ctx, res, err)
		return
	}
	ans, problem := parseOrTruncated(resp)
	if problem != nil {
		r.log.Warn("section answer unusable; asking once more", "section", req.Section.Key, "problem", problem)
		r.hookCall("invalid_output", domain.Usage{}, 0)
		repair := req
		repair.User = buildRepairPrompt(req.User, resp.Content, problem)
		first := resp
		if resp, err = r.call(ctx, repair, res); err != nil {
			r.fail(ctx, res, err)
			return
		}
		if len(resp.Sources) == 0 {
			resp.Sources, resp.Grounded = first.Sources, first.Grounded
		}
		if ans, problem = parseOrTruncated(resp); problem != nil {
			r.fail(ctx, res, fmt.Errorf("answer still unusable after one repair attempt: %w", problem))
			return
		}
	}
	applyAnswer(res, ans, resp)
	res.Status = domain.SectionCompleted
}

// parseOrTruncated parses the provider's answer; a truncated one is
// unusable however it parses.
func parseOrTruncated(resp ports.SectionResponse) (answer, error) {
	if resp.Truncated {
		return answer{}, fmt.Errorf("%w: the answer was cut off at the provider's output limit", errInvalidAnswer)
	}
	return parseAnswer(resp.Content)
}

// fail marks res failed with err, or with the job timeout when that is what
// stopped it.
func (r *run) fail(ctx context.Context, res *domain.SectionResult, err error) {
	res.Status = domain.SectionFailed
	if errors.Is(err, errCostCap) {
		res.Status = domain.SectionSkipped
	}
	res.Error = err.Error()
	if errors.Is(context.Cause(ctx), errJobTimeout) {
		res.Error = "job timed out before the section finished"
	}
}
