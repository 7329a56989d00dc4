// Provider limits: concurrency per process, the per-minute budget and a provider's pause for the whole fleet.

package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// MaxProviderPause bounds the pause one provider answer puts on every
// process: a Retry-After longer than a job may run (a proxy's mistake, a
// daily quota) would otherwise stop the fleet, past restarts, since the
// pause is kept in the store. The section that got it still waits its own
// Retry-After.
const MaxProviderPause = 5 * time.Minute

// LimitConfig is how LimitWith limits one provider.
type LimitConfig struct {
	// Concurrent bounds the provider's requests in flight in this process
	// (CODECHECK_PROVIDER_CONCURRENCY); 0: no bound. It is per process,
	// never fleet-wide: a process cannot hand a slot back to the others if
	// it dies holding it.
	Concurrent int
	// PerMinute is the provider's budget of calls a minute
	// (CODECHECK_PROVIDER_RPM); 0: none, and no pause is waited for. Up to
	// burst(PerMinute) calls go at once after a quiet spell.
	PerMinute int
	// Budget keeps the per-minute budget and the provider's pause for
	// every process that shares it (the store, or the worker API). Nil
	// keeps them in this process only. While Budget cannot be reached,
	// calls are limited by this process's own budget and go on.
	Budget ports.ProviderBudget
	Logger *slog.Logger
}

// Limit wraps a provider in limits kept in this process only: LimitWith
// without a shared budget.
func Limit(llm ports.LLM, concurrent, perMinute int) ports.LLM {
	return LimitWith(llm, LimitConfig{Concurrent: concurrent, PerMinute: perMinute})
}

// LimitWith wraps a provider in its limits: at most c.Concurrent requests
// at once in this process, and calls paced by the per-minute budget, which
// every process sharing c.Budget draws from. A provider answer with a
// Retry-After (a 429, a 503) pauses the provider for all of them until
// then.
//
// A call costs one Acquire of the budget. A call that had to wait for its
// slot also asks, just before it goes, whether the provider was paused
// meanwhile (Paused): if it was, the slot is forfeit and the call takes a
// new one after the pause, so that no process calls into a pause another
// process reported.
func LimitWith(llm ports.LLM, c LimitConfig) ports.LLM {
	l := &limited{LLM: llm, local: newLocalBudget(time.Now), log: c.Logger}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.budget = c.Budget
	if l.budget == nil {
		l.budget = l.local
	}
	if c.Concurrent > 0 {
		l.slots = newSlotPool(c.Concurrent)
	}
	if c.PerMinute > 0 {
		l.rate = ProviderRate(c.PerMinute)
	}
	return l
}

// ProviderRate is the budget of perMinute calls a minute: its burst lets
// one job's sections start together, or a tenth of the per-minute rate when
// that is more, never more than the rate.
func ProviderRate(perMinute int) ports.Rate {
	return ports.Rate{PerMinute: perMinute, Burst: min(perMinute, max(len(domain.SectionKeys()), perMinute/10))}
}

type limited struct {
	ports.LLM
	slots  *slotPool  // nil: no bound
	rate   ports.Rate // zero: no per-minute budget
	budget ports.ProviderBudget
	local  *localBudget // this process's: budget without a shared one, the fallback with one
	log    *slog.Logger

	mu          sync.Mutex
	unreachable bool // the shared budget failed last time
}

// Research implements ports.LLM: the call goes with the slot its section
// was admitted with (admit), if it is the section's first, or waits for
// one.
func (l *limited) Research(ctx context.Context, req ports.SectionRequest) (ports.SectionResponse, error) {
	if l.slots != nil {
		if held := heldSlotFrom(ctx); held != nil && held.use(l) {
			defer held.release()
		} else {
			releaseHeldSlot(ctx) // another provider's, or used: not this call's
			if err := l.slots.acquire(ctx); err != nil {
				return ports.SectionResponse{}, err
			}
			defer l.slots.release()
		}
	}
	if l.rate.PerMinute > 0 {
		if err := l.await(ctx, req.JobID); err != nil {
			return ports.SectionResponse{}, err
		}
	}
	resp, err := l.LLM.Research(ctx, req)
	l.pauseAfter(ctx, req.JobID, err)
	return resp, err
}

// await takes the call's slot and waits for it. A call that waited checks
// that no pause began meanwhile; if one did, its slot is forfeit and it
// takes one after the pause.
func (l *limited) await(ctx context.Context, jobID string) error {
	for {
		wait, err := l.acquire(ctx, jobID)
		if err != nil || wait <= 0 {
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		if l.paused(ctx, jobID) <= 0 {
			return nil
		}
	}
}

func (l *limited) acquire(ctx context.Context, jobID string) (time.Duration, error) {
	wait, err := l.budget.Acquire(ctx, jobID, l.Name(), l.rate)
	l.reached(err)
	switch {
	case err == nil:
		return wait, nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	}
	return l.local.Acquire(ctx, jobID, l.Name(), l.rate)
}

// paused is how long the provider stays paused: as the shared budget says,
// or this process knows when it cannot be asked.
func (l *limited) paused(ctx context.Context, jobID string) time.Duration {
	d, err := l.budget.Paused(ctx, jobID, l.Name())
	l.reached(err)
	if err != nil {
		d, _ = l.local.Paused(ctx, jobID, l.Name())
	}
	return d
}

// pauseAfter pauses the provider for everyone when its answer said when
// to come back.
func (l *limited) pauseAfter(ctx context.Context, jobID string, err error) {
	var pe *ports.ProviderError
	if !errors.As(err, &pe) || !pe.Retryable || pe.RetryAfter <= 0 {
		return
	}
	d := min(pe.RetryAfter, MaxProviderPause)
	_ = l.local.Pause(ctx, jobID, l.Name(), d)
	if l.budget != l.local {
		err := l.budget.Pause(ctx, jobID, l.Name(), d)
		l.reached(err)
	}
	l.log.Info("provider paused for every process", "provider", l.Name(), "status", pe.StatusCode, "for", d, "job_id", jobID)
}

// reached logs, once each way, that the shared budget stopped or started
// answering.
func (l *limited) reached(err error) {
	if l.budget == l.local || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	l.mu.Lock()
	changed := l.unreachable != (err != nil)
	l.unreachable = err != nil
	l.mu.Unlock()
	switch {
	case changed && err != nil:
		l.log.Warn("provider budget unreachable: this process limits the provider on its own until it answers",
			"provider", l.Name(), "err", err)
	case changed:
		l.log.Info("provider budget reachable again", "provider", l.Name())
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// localBudget is a ports.ProviderBudget kept in this process: the same
// schedule as the store's, shared by this process's jobs only.
type localBudget struct {
	now func() time.Time

	mu        sync.Mutex
	providers map[string]*localState
}

type localState struct{ full, pausedUntil time.Time }

var _ ports.ProviderBudget = (*localBudget)(nil)

func newLocalBudget(now func() time.Time) *localBudget {
	return &localBudget{now: now, providers: map[string]*localState{}}
}

func (b *localBudget) state(provider string) *localState {
	s, ok := b.providers[provider]
	if !ok {
		s = &localState{}
		b.providers[provider] = s
	}
	return s
}

// Acquire implements ports.ProviderBudget.
func (b *localBudget) Acquire(_ context.Context, _, provider string, rate ports.Rate) (time.Duration, error) {
	if err := errors.Join(checkProvider(provider), rate.Validate()); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s, now := b.state(provider), b.now()
	var at time.Time
	at, s.full = rate.Schedule(now, s.full, s.pausedUntil)
	return at.Sub(now), nil
}

// Pause implements ports.ProviderBudget.
func (b *localBudget) Pause(_ context.Context, _, provider string, d time.Duration) error {
	if err := checkProvider(provider); err != nil {
		return err
	}
	if d <= 0 {
		return domain.Invalid("pause", "must be positive")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state(provider)
	if until := b.now().Add(d); until.After(s.pausedUntil) {
		s.pausedUntil = until
	}
	return nil
}

// Paused implements ports.ProviderBudget.
func (b *localBudget) Paused(_ context.Context, _, provider string) (time.Duration, error) {
	if err := checkProvider(provider); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.state(provider).pausedUntil.Sub(b.now()), 0), nil
}

func checkProvider(provider string) error {
	if provider == "" {
		return domain.Invalid("provider", "is required")
	}
	return nil
}

// admit implements admitter: start is called, with a slot held for its
// first call, once the provider has one free; at once when it has no
// bound.
func (l *limited) admit(ctx context.Context, start func(context.Context)) {
	if l.slots == nil {
		start(ctx)
		return
	}
	l.slots.admit(ctx, l, start)
}
