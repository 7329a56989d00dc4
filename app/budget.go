// The job's cost cap: each provider call reserves its expected cost first,
// and is not made when that would pass the cap.

package app

import (
	"errors"
	"fmt"
	"slices"

	"github.com/codecheck/codecheck/domain"
)

// errCostCap is why a call was not made: the job's cost cap would be
// passed. The section ends skipped.
var errCostCap = errors.New(domain.CostCapReached)

// typicalCall is the usage a section call is expected to have before the
// job has made one: what a grounded section answer takes, roughly.
var typicalCall = domain.Usage{InputTokens: 4000, OutputTokens: 1500, SearchCalls: 1}

// budget tracks what a job has spent against its cap. Its methods are
// called with run.mu held.
type budget struct {
	limit    *float64 // nil: no cap
	spent    float64  // settled: earlier attempts' sections and this attempt's calls
	reserved float64  // calls under way
	calls    int      // priced calls made, or saved sections that cost something
	callCost float64  // what they cost
}

// newBudget starts from what the job's saved sections cost; their average
// is the first estimate of a call.
func newBudget(limit *float64, saved []domain.SectionResult) budget {
	b := budget{limit: limit}
	for _, s := range saved {
		if s.Usage.CostUSD != nil && *s.Usage.CostUSD > 0 {
			b.spent += *s.Usage.CostUSD
			b.calls++
			b.callCost += *s.Usage.CostUSD
		}
	}
	return b
}

// reserve sets aside est for a call, or reports that the call would pass
// the cap. With no estimate (an unpriced model) a call is refused only once
// the cap is spent.
func (b *budget) reserve(est float64) bool {
	if b.limit == nil {
		return true
	}
	committed := b.spent + b.reserved
	if committed+est > *b.limit || (est == 0 && committed >= *b.limit) {
		return false
	}
	b.reserved += est
	return true
}

// settle replaces a reservation with what the call cost (nil: unknown, or
// the call failed).
func (b *budget) settle(est float64, cost *float64) {
	if b.limit != nil {
		b.reserved -= est
	}
	if cost != nil {
		b.spent += *cost
		b.calls++
		b.callCost += *cost
	}
}

// estimate is the expected cost of the next call: the average of the
// job's priced calls so far, else the price table's for a typical call.
func (r *run) estimate() float64 {
	if r.budget.calls > 0 {
		return r.budget.callCost / float64(r.budget.calls)
	}
	c, _ := r.w.cfg.Prices.Cost(r.llm.Name(), r.llm.Model(), typicalCall)
	return c
}

// reserveCall reserves the next call's cost; errCostCap when it would pass
// the job's cap.
func (r *run) reserveCall() (float64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	est := r.estimate()
	if !r.budget.reserve(est) {
		return 0, fmt.Errorf("%w: $%.4f spent of the $%.4f cap, and the next call would cost about $%.4f",
			errCostCap, r.budget.spent+r.budget.reserved, *r.budget.limit, est)
	}
	return est, nil
}

func (r *run) settleCall(est float64, cost *float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.budget.settle(est, cost)
}

// capEnd is how a job whose cap skipped sections ends: completed when every
// essential section it asked for completed (the store flags it
// cost_capped), else failed. ok is false when no section was skipped.
func (r *run) capEnd() (status domain.JobStatus, msg string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var skipped, missing []string
	for _, k := range r.job.Sections {
		s := r.results[k]
		if s.Status == domain.SectionSkipped {
			skipped = append(skipped, k)
		}
		if slices.Contains(domain.EssentialSections, k) && s.Status != domain.SectionCompleted {
			missing = append(missing, k)
		}
	}
	if len(skipped) == 0 {
		return "", "", false
	}
	if len(missing) > 0 {
		return domain.JobFailed, fmt.Sprintf("%s before essential sections finished (%v); %d sections skipped: retry with a higher max_cost_usd",
			domain.CostCapReached, missing, len(skipped)), true
	}
	return domain.JobCompleted, "", true
}
