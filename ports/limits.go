package ports

import (
	"context"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// ProviderBudget is a provider call budget shared by every process that
// reaches the same store: the SQL stores keep it in the database, the
// worker API's client asks the server for it, so that
// CODECHECK_PROVIDER_RPM is one budget for the whole fleet and a provider's
// Retry-After holds back every process. Times are the store's: the
// budget's clock is the one leases are kept by.
//
// jobID names the job the call is for. The worker API authorises the
// request with that job's worker token; the SQL stores ignore it.
type ProviderBudget interface {
	// Acquire takes one call's slot from provider's budget of rate and
	// returns how long the caller waits before it makes the call: 0 when
	// the budget allows it now, longer when earlier calls used the budget
	// or the provider is paused. The slot is the caller's from then on,
	// whether or not it waits: one Acquire per call. Slots are scheduled as
	// Rate.Schedule says. domain.ErrInvalid for an empty provider or a rate
	// that fails Rate.Validate; other errors mean the budget could not be
	// reached, and no slot was taken.
	Acquire(ctx context.Context, jobID, provider string, rate Rate) (wait time.Duration, err error)

	// Pause holds every caller's calls to provider back for d from now: no
	// slot Acquire hands out begins before the pause ends. Of two pauses,
	// the one that ends later stands. domain.ErrInvalid for an empty
	// provider or d <= 0.
	Pause(ctx context.Context, jobID, provider string, d time.Duration) error

	// Paused returns how long provider stays paused from now; 0 when it is
	// not. A caller told by Acquire to wait checks it before it calls,
	// since a pause may have begun while it waited. domain.ErrInvalid for
	// an empty provider.
	Paused(ctx context.Context, jobID, provider string) (time.Duration, error)
}

// Rate is a provider's call budget: a token bucket of Burst tokens that
// refills at PerMinute tokens a minute. After a quiet spell Burst calls may
// go at once; beyond that one call per Interval.
type Rate struct {
	PerMinute int
	Burst     int
}

// Validate returns domain.ErrInvalid unless PerMinute and Burst are at
// least 1.
func (r Rate) Validate() error {
	if r.PerMinute < 1 {
		return domain.Invalid("per_minute", "must be at least 1")
	}
	if r.Burst < 1 {
		return domain.Invalid("burst", "must be at least 1")
	}
	return nil
}

// Interval is the time one token takes to refill: a minute over PerMinute,
// rounded up to the microsecond every store keeps, so that the schedule
// never runs faster than the rate.
func (r Rate) Interval() time.Duration {
	d := (time.Minute + time.Duration(r.PerMinute) - 1) / time.Duration(r.PerMinute)
	return (d + time.Microsecond - 1).Truncate(time.Microsecond)
}

// Schedule is the arithmetic of every ProviderBudget, so that the stores
// and the in-process budget agree. The bucket's state is one time, full:
// when it would be full again (a zero or past time: it is full now). Each
// call pushes full one Interval later, and may go once full is no more than
// Burst intervals ahead. While the provider is paused (pausedUntil after
// now) no call goes before the pause ends, and the bucket counts as empty
// at its end but for one token, so that calls resume one per Interval
// rather than all at once into the provider that just refused them.
//
// It returns when the call may go and the bucket's new full time.
func (r Rate) Schedule(now, full, pausedUntil time.Time) (at, newFull time.Time) {
	interval := r.Interval()
	start := now
	if pausedUntil.After(now) {
		start = pausedUntil
		full = later(full, pausedUntil.Add(time.Duration(r.Burst-1)*interval))
	}
	newFull = later(full, start).Add(interval)
	return later(start, newFull.Add(-time.Duration(r.Burst)*interval)), newFull
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
