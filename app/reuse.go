// Reuse: a jurisdiction-wide section taken from another job of the same jurisdiction instead of researched again.

package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// DefaultReuseTTL is how old reused research may be (CODECHECK_REUSE_TTL).
const DefaultReuseTTL = 30 * 24 * time.Hour

// reuse saves as this job's section, at once and without a provider call,
// a recent result another job of the same jurisdiction, provider, model
// and project saved for spec (see domain.CheckReuse), and returns it, or
// nil when it took none. It takes none for a job that asked for fresh
// research, a worker whose ReuseTTL is 0, a section that depends on more
// than the jurisdiction, or a job whose jurisdiction is not known; a
// failed lookup means research as usual.
func (r *run) reuse(ctx context.Context, spec domain.SectionSpec, prior priorJurisdiction, h *handoff) *domain.SectionResult {
	if !r.job.Reuse || r.w.cfg.ReuseTTL <= 0 || !spec.JurisdictionWide || prior.data.Identity() == "" {
		return nil
	}
	now := time.Now().UTC()
	found, ok := r.findReusable(ctx, spec, now)
	if !ok {
		return nil
	}
	res := domain.Reused(found.Section, found.JobID, now)
	res.Key, res.Title, res.Ordinal = spec.Key, spec.Title, spec.Ordinal
	return r.saveReused(ctx, spec, res, h)
}

// findReusable asks the store for a section to reuse for spec and checks
// it: the store applied the same rules, but a worker does not take another
// process's word for what goes into its report.
func (r *run) findReusable(ctx context.Context, spec domain.SectionSpec, now time.Time) (ports.Reusable, bool) {
	want := domain.ReuseWant{Key: spec.Key, Provider: r.llm.Name(), Model: r.llm.Model(), NotBefore: now.Add(-r.w.cfg.ReuseTTL)}
	found, err := r.w.cfg.Store.ReusableSection(ctx, ports.ReuseQuery{JobID: r.job.ID, Key: spec.Key,
		Model: want.Model, NotBefore: want.NotBefore})
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return found, false
	case err != nil:
		r.log.Warn("could not look for a section to reuse; researching it", "section", spec.Key, "err", err)
		return found, false
	}
	if err := domain.CheckReuse(found.Section, want); err != nil {
		r.log.Warn("store offered a section that may not be reused; researching it", "section", spec.Key,
			"from_job", found.JobID, "err", err)
		return found, false
	}
	return found, true
}

// saveReused saves res, a section the run started (so that the job's
// events show it started before it completed), handing the section's
// place over (h), and returns the section as saved. When the save fails
// the run is stopping (a lost lease) or the store failed, which the
// attempt's end reports; nothing is researched in its place.
func (r *run) saveReused(ctx context.Context, spec domain.SectionSpec, res domain.SectionResult, h *handoff) *domain.SectionResult {
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.w.cfg.Lease)
	defer cancel()
	if !r.save(saveCtx, res, h.at(ctx, r, res)...) {
		r.mu.Lock()
		defer r.mu.Unlock()
		saved := r.results[spec.Key]
		return &saved
	}
	r.log.Info("section reused", "section", spec.Key, "reused_from", res.ReusedFrom, "last_verified", res.LastVerified)
	if h := r.w.cfg.Hooks.SectionDone; h != nil {
		h(r.job, res)
	}
	return &res
}

// applyReuse sets the job's reuse from the request, or the service's
// default when it does not say. A job that forces fresh research has its
// own request hash, so that an idempotency key used with reuse on cannot
// replay it; with reuse on the hash stays what it always was.
func (s *Service) applyReuse(job *domain.Job, req SubmitRequest) {
	job.Reuse = s.cfg.DefaultReuse
	if req.Reuse != nil {
		job.Reuse = *req.Reuse
	}
	if !job.Reuse {
		sum := sha256.Sum256([]byte(job.RequestHash + "|reuse=false"))
		job.RequestHash = hex.EncodeToString(sum[:])
	}
}
