// Running an attempt's sections: jurisdiction first, the others in parallel, each researched, repaired once if unusable, and saved.

package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// startSections starts the attempt's sections, each in a goroutine of its
// own: jurisdiction first, then the others, at most SectionConcurrency at
// once, each told what the jurisdiction section found. A section's place
// goes, when it ends, to the next in line, and the save that ends it
// records the next one's start in the same write
// (ports.JobStore.SaveSection); the claim records the jurisdiction's. So a
// start costs no write of its own, and no goroutine waits for a place. It
// returns at once; the channel it returns is closed when the last section
// has ended, so that the attempt's own goroutine keeps the lease meanwhile
// (keepLease) and no goroutine of its own waits for them.
func (r *run) startSections(ctx context.Context) <-chan struct{} {
	line := r.lineup()
	g := newGroup()
	h := &handoff{line: line, n: r.w.cfg.SectionConcurrency}
	r.goSection(ctx, g, func(ctx context.Context) {
		if spec, ok := r.job.FirstSection(); ok {
			juris := r.section(ctx, spec, priorJurisdiction{}, h)
			line.prior, line.juris = priorFrom(*juris), juris
		}
		r.launch(ctx, g, h)
	})
	g.end() // newGroup's own count: the goroutines now count themselves
	return g.done
}

// admitter is a provider that bounds its calls in flight (limited): it
// starts a section's work only once the section's call may go, so that no
// section waits for the provider in a goroutine of its own.
type admitter interface {
	admit(ctx context.Context, start func(context.Context))
}

// goSection runs f, a section's work, in a goroutine of g: at once, or,
// with a provider that bounds its calls, once it has a slot for the
// section's first call, which f's context then holds.
func (r *run) goSection(ctx context.Context, g *group, f func(context.Context)) {
	a, ok := r.llm.(admitter)
	if !ok {
		g.Go(func() { f(ctx) })
		return
	}
	g.n.Add(1) // counted from the moment it is in line
	// In line without the caller's slot, which stays the caller's.
	a.admit(withoutHeldSlot(ctx), func(ctx context.Context) {
		go func() {
			defer g.end()
			defer releaseHeldSlot(ctx) // a section that ended without its call
			f(ctx)
		}()
	})
}

// group counts an attempt's section goroutines and closes done when the
// last has ended. A goroutine starts those that follow it before it ends,
// so the count reaches zero only once.
type group struct {
	n    atomic.Int64
	done chan struct{}
}

// newGroup returns a group that counts one until end is called: its
// starter's.
func newGroup() *group {
	g := &group{done: make(chan struct{})}
	g.n.Store(1)
	return g
}

// Go runs f in a goroutine the group counts.
func (g *group) Go(f func()) {
	g.n.Add(1)
	go func() {
		defer g.end()
		f()
	}()
}

func (g *group) end() {
	if g.n.Add(-1) == 0 {
		close(g.done)
	}
}

// task is one section's work in the line: its research, and its
// verification when the job has verify on; or, for the jurisdiction,
// researched first, its verification alone.
type task struct {
	spec       domain.SectionSpec
	verifyOnly bool
}

// line is the attempt's tasks after the jurisdiction, in report order,
// and what the jurisdiction found for them.
type line struct {
	mu    sync.Mutex
	tasks []task
	prior priorJurisdiction
	juris *domain.SectionResult // never changed once set
}

// lineup lines up the tasks after the jurisdiction: its verification
// first, when the job has verify on, then the other sections.
func (r *run) lineup() *line {
	l := &line{juris: &domain.SectionResult{}}
	for _, key := range r.job.Sections {
		spec, _ := domain.LookupSection(key)
		switch {
		case key != domain.JurisdictionKey:
			l.tasks = append(l.tasks, task{spec: spec})
		case r.job.Verify:
			l.tasks = append([]task{{spec: spec, verifyOnly: true}}, l.tasks...)
		}
	}
	return l
}

// take removes and returns up to n tasks from the front of the line,
// passing over sections an earlier attempt finished; none once the attempt
// is stopping.
func (l *line) take(ctx context.Context, r *run, n int) []task {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []task
	for len(out) < n && len(l.tasks) > 0 && ctx.Err() == nil && !r.w.draining() {
		t := l.tasks[0]
		l.tasks = l.tasks[1:]
		r.mu.Lock()
		prev := r.results[t.spec.Key]
		r.mu.Unlock()
		if !t.verifyOnly && prev.Status == domain.SectionCompleted && !r.needsVerify(prev) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// handoff is a running section's place: when the section ends, the place
// goes to the next n tasks in line (n is SectionConcurrency for the
// jurisdiction's, 1 for the others'). The save that ends the section takes
// them and records their starts; a section that ends without such a save
// hands them over when it returns (launch).
type handoff struct {
	line *line
	n    int
	// afterVerify: the place is handed over after the section's
	// verification when one follows its research, not at the research's
	// save.
	afterVerify bool
	taken       bool
	next        []task
}

// take takes the tasks that follow, once, and returns the running results
// that record their starts.
func (h *handoff) take(ctx context.Context, r *run) []domain.SectionResult {
	if h == nil || h.taken {
		return nil
	}
	h.taken, h.next = true, h.line.take(ctx, r, h.n)
	var starts []domain.SectionResult
	for _, t := range h.next {
		r.mu.Lock()
		prev := r.results[t.spec.Key]
		r.mu.Unlock()
		if !t.verifyOnly && prev.Status != domain.SectionCompleted {
			starts = append(starts, domain.StartSection(t.spec, prev, r.llm.Name(), r.llm.Model(), time.Now()))
		}
	}
	return starts
}

// at is take for the save of res, a section's research: nothing when the
// place is handed over only after a verification that follows.
func (h *handoff) at(ctx context.Context, r *run, res domain.SectionResult) []domain.SectionResult {
	if h == nil || h.afterVerify && r.needsVerify(res) {
		return nil
	}
	return h.take(ctx, r)
}

// launch starts the tasks h hands its place to, each in its own goroutine
// of g; when no save took them, it takes them now and records their
// starts in a write of their own.
func (r *run) launch(ctx context.Context, g *group, h *handoff) {
	if !h.taken {
		if starts := h.take(ctx, r); len(starts) > 0 {
			startCtx, cancel := context.WithTimeout(ctx, r.w.cfg.Lease)
			r.save(startCtx, starts[0], starts[1:]...)
			cancel()
		}
	}
	if ctx.Err() != nil {
		return
	}
	for _, t := range h.next {
		r.goSection(ctx, g, func(ctx context.Context) {
			next := &handoff{line: h.line, n: 1, afterVerify: true}
			if t.verifyOnly {
				r.verify(ctx, t.spec, h.line.juris, next)
			} else {
				r.researchAndVerify(ctx, t.spec, h.line.prior, next)
			}
			r.launch(ctx, g, next)
		})
	}
}

// section runs one section unless an earlier attempt completed it, and
// returns its result. Its save hands its place over (h).
//
// A section's goroutine spends most of its life in here, waiting for the
// provider, and the runtime sizes every new goroutine's stack by the
// average in use. So the functions on the way to that wait (section,
// research, ask, call and verify) keep their frames small: results go by
// pointer, and the work before and after the call is done in functions of
// its own, whose frames are gone by the time the goroutine waits.
func (r *run) section(ctx context.Context, spec domain.SectionSpec, prior priorJurisdiction, h *handoff) *domain.SectionResult {
	res, ok := r.startSection(ctx, spec)
	if !ok {
		return res
	}
	if reused := r.reuse(ctx, spec, prior, h); reused != nil {
		return reused
	}
	r.research(ctx, spec, prior, res)
	if ctx.Err() != nil && !errors.Is(context.Cause(ctx), errJobTimeout) {
		// Canceled, taken over or shut down hard: leave no verdict; a
		// later attempt runs the section again.
		return res
	}
	r.endSection(ctx, res, h)
	return res
}

// startSection returns spec's section started, its start recorded unless a
// write of this attempt recorded it already (the claim, or the save that
// handed it its place); or, with false, the section as it stands when it
// is not to run: completed by an earlier attempt, the attempt stopping, or
// its start not saved.
func (r *run) startSection(ctx context.Context, spec domain.SectionSpec) (*domain.SectionResult, bool) {
	r.mu.Lock()
	prev, announced := r.results[spec.Key], r.announced[spec.Key]
	r.mu.Unlock()
	if prev.Status == domain.SectionCompleted || ctx.Err() != nil || r.w.draining() {
		return &prev, false
	}
	res := domain.StartSection(spec, prev, r.llm.Name(), r.llm.Model(), time.Now())
	if announced && prev.Status == domain.SectionRunning {
		res.StartedAt = prev.StartedAt // the start the handing-over save (or the claim) recorded
	} else {
		startCtx, cancel := context.WithTimeout(ctx, r.w.cfg.Lease)
		saved := r.save(startCtx, res)
		cancel()
		if !saved {
			return &res, false
		}
	}
	if h := r.w.cfg.Hooks.SectionStarted; h != nil {
		h(r.job, spec.Key)
	}
	return &res, true
}

// endSection records when res, a researched section, finished and saves
// it, handing its place over (h).
func (r *run) endSection(ctx context.Context, res *domain.SectionResult, h *handoff) {
	finished := time.Now().UTC()
	res.FinishedAt = &finished
	res.LatencyMS = finished.Sub(*res.StartedAt).Milliseconds()
	// The answer is paid for: keep trying to save it for as long as the
	// lease can hold without a heartbeat, even past a cancel of ctx.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.w.cfg.Lease)
	defer cancel()
	if r.save(saveCtx, *res, h.at(ctx, r, *res)...) {
		r.log.Info("section finished", "section", res.Key, "status", res.Status, "latency_ms", res.LatencyMS,
			"provider_calls", res.Attempts, "error", res.Error)
		if h := r.w.cfg.Hooks.SectionDone; h != nil {
			h(r.job, *res)
		}
	}
}

// save writes the section, and the sections it starts (each running),
// under the lease, and records them. A store error is retried with backoff
// until ctx ends, so that a database blip does not throw away an answer
// that was paid for; a lost lease stops the run, and an invalid result is
// not retried. A section that could not be saved stays unfinished, and the
// attempt's end says why; a start that could not be saved is saved by the
// section itself when it starts.
func (r *run) save(ctx context.Context, res domain.SectionResult, started ...domain.SectionResult) bool {
	secs := append([]domain.SectionResult{res}, started...)
	err := r.retryWrite(ctx, "save section "+res.Key, func(ctx context.Context) error { return r.write(ctx, secs) })
	switch {
	case err == nil:
		r.mu.Lock()
		r.results[res.Key] = res
		for _, s := range started {
			r.results[s.Key], r.announced[s.Key] = s, true
		}
		r.mu.Unlock()
		return true
	case errors.Is(err, domain.ErrLeaseLost):
		r.cancel(domain.ErrLeaseLost)
		return false
	case errors.Is(err, domain.ErrInvalid), errors.Is(err, domain.ErrNotFound):
		r.log.Error("section not saved", "section", res.Key, "status", res.Status, "err", err)
	}
	r.mu.Lock()
	r.unsaved = fmt.Errorf("section %s not saved: %w", res.Key, err)
	r.mu.Unlock()
	return false
}

// saver group-commits an attempt's section saves. The saves of one job
// take turns at its row, so while one is on its way to the store those
// that come meanwhile gather, and go together as one write when it is
// back (ports.JobStore.SaveSection takes several): sections that end
// together cost one commit, not one each in a queue.
type saver struct {
	mu   sync.Mutex
	busy bool
	next *saveBatch // gathering while busy
}

// saveBatch is the saves gathered for one write, and its outcome.
type saveBatch struct {
	secs []domain.SectionResult
	done chan struct{}
	err  error
}

func (b *saveBatch) has(secs []domain.SectionResult) bool {
	for _, s := range secs {
		if slices.ContainsFunc(b.secs, func(o domain.SectionResult) bool { return o.Key == s.Key }) {
			return true
		}
	}
	return false
}

// write saves secs under the lease, in one write with any other saves of
// the attempt that meet it (saver). The writer that finds the store free
// writes, then writes what gathered meanwhile until nothing is left; the
// others wait for their batch's outcome.
func (r *run) write(ctx context.Context, secs []domain.SectionResult) error {
	sv := &r.saver
	for {
		sv.mu.Lock()
		if !sv.busy {
			sv.busy = true
			sv.mu.Unlock()
			break
		}
		if sv.next == nil {
			sv.next = &saveBatch{done: make(chan struct{})}
		}
		b := sv.next
		if !b.has(secs) {
			b.secs = append(b.secs, secs...)
			sv.mu.Unlock()
			<-b.done
			return b.err
		}
		sv.mu.Unlock()
		<-b.done // a save of the same section waits there: after it
	}
	err := r.w.cfg.Store.SaveSection(ctx, r.lease, secs[0], secs[1:]...)
	for {
		sv.mu.Lock()
		b := sv.next
		sv.next = nil
		if b == nil {
			sv.busy = false
			sv.mu.Unlock()
			return err
		}
		sv.mu.Unlock()
		b.err = r.w.cfg.Store.SaveSection(ctx, r.lease, b.secs[0], b.secs[1:]...)
		close(b.done)
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
	req := r.researchRequest(spec, prior)
	r.ask(ctx, req, res)
	if len(req.AllowedDomains) > 0 && res.Status == domain.SectionCompleted && len(res.Sources) == 0 && ctx.Err() == nil {
		r.askOpenWeb(ctx, req, res)
	}
	if spec.Key != domain.JurisdictionKey {
		markOfficial(res.Sources, prior.data)
	}
}

// researchRequest is the request that researches spec.
func (r *run) researchRequest(spec domain.SectionSpec, prior priorJurisdiction) *ports.SectionRequest {
	req := &ports.SectionRequest{JobID: r.job.ID, Attempt: r.job.Attempt, Section: spec, Address: r.job.Address,
		System: systemPrompt, User: buildUserPrompt(spec, r.job.Address, r.job.Project, prior.notes),
		Schema: schemaFor(spec.Key), SchemaName: answerSchemaName}
	if spec.Key != domain.JurisdictionKey {
		req.AllowedDomains = searchDomains(prior.data)
	}
	return req
}

// askOpenWeb asks req again without its domains, for res, whose narrowed
// search gave no sources; res keeps its answer if this one fails.
func (r *run) askOpenWeb(ctx context.Context, req *ports.SectionRequest, res *domain.SectionResult) {
	r.log.Info("no sources on the jurisdiction's domains; searching the open web", "section", req.Section.Key,
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

// ask makes one request, repairing an unusable answer once, and fills res.
func (r *run) ask(ctx context.Context, req *ports.SectionRequest, res *domain.SectionResult) {
	resp, err := r.call(ctx, req, res)
	if err != nil {
		r.fail(ctx, res, err)
		return
	}
	r.answer(ctx, req, &resp, res)
}

// answer fills res with resp, the provider's answer to req, asking once
// more when it is unusable.
func (r *run) answer(ctx context.Context, req *ports.SectionRequest, resp *ports.SectionResponse, res *domain.SectionResult) {
	ans, problem := parseOrTruncated(*resp)
	if problem != nil {
		r.log.Warn("section answer unusable; asking once more", "section", req.Section.Key, "problem", problem)
		r.hookCall("invalid_output", domain.Usage{}, 0)
		repair := *req
		repair.User = buildRepairPrompt(req.User, resp.Content, problem)
		first := *resp
		again, err := r.call(ctx, &repair, res)
		if err != nil {
			r.fail(ctx, res, err)
			return
		}
		if len(again.Sources) == 0 {
			again.Sources, again.Grounded = first.Sources, first.Grounded
		}
		if ans, problem = parseOrTruncated(again); problem != nil {
			r.fail(ctx, res, fmt.Errorf("answer still unusable after one repair attempt: %w", problem))
			return
		}
		*resp = again
	}
	applyAnswer(res, ans, *resp)
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
