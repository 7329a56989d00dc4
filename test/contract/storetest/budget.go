package storetest

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// budgetTests are the contract of ports.ProviderBudget: a worker takes
// slots and pauses through the worker's budget, and the store's own, a
// second handle on the same data (the same one when the store is its own
// worker store), sees the same budget, as another process would.
var budgetTests = map[string]func(*testing.T, Harness){
	"BurstThenRate":          testBudgetBurstThenRate,
	"RefillsOverTime":        testBudgetRefills,
	"ProvidersApart":         testBudgetProvidersApart,
	"PauseShared":            testBudgetPauseShared,
	"PauseKeepsLaterEnd":     testBudgetPauseKeepsLater,
	"ConcurrentNeverExceeds": testBudgetConcurrent,
	"Invalid":                testBudgetInvalid,
}

// oneASecond is 60 calls a minute, 3 at once.
var oneASecond = ports.Rate{PerMinute: 60, Burst: 3}

// budget is the store's provider budget, nil when it keeps none.
func (h Harness) budget() ports.ProviderBudget {
	if h.Budget != nil {
		return h.Budget
	}
	b, _ := h.Store.(ports.ProviderBudget)
	return b
}

// workerBudget is the budget the suite makes a worker's calls through.
func (h Harness) workerBudget() ports.ProviderBudget {
	if h.WorkerBudget != nil {
		return h.WorkerBudget
	}
	if b, ok := h.Worker.(ports.ProviderBudget); ok {
		return b
	}
	return h.budget()
}

// acquire takes a slot of provider at rate through b and returns the wait.
func acquire(t *testing.T, b ports.ProviderBudget, provider string, rate ports.Rate) time.Duration {
	t.Helper()
	wait, err := b.Acquire(ctx(t), "job-1", provider, rate)
	require.NoError(t, err)
	return wait
}

// paused reads how long provider stays paused, through b.
func paused(t *testing.T, b ports.ProviderBudget, provider string) time.Duration {
	t.Helper()
	d, err := b.Paused(ctx(t), "job-1", provider)
	require.NoError(t, err)
	return d
}

// Burst calls go at once; each further one is scheduled an interval after
// the one before, whichever handle takes it.
func testBudgetBurstThenRate(t *testing.T, h Harness) {
	for range oneASecond.Burst {
		require.Zero(t, acquire(t, h.workerBudget(), "perplexity", oneASecond))
	}
	require.Equal(t, time.Second, acquire(t, h.budget(), "perplexity", oneASecond), "another process waits")
	require.Equal(t, 2*time.Second, acquire(t, h.workerBudget(), "perplexity", oneASecond))
}

// Tokens come back at the rate, never beyond the burst.
func testBudgetRefills(t *testing.T, h Harness) {
	b := h.workerBudget()
	for range 5 { // 3 at once, then at +1s and +2s: the bucket is full again at +5s
		acquire(t, b, "openai", oneASecond)
	}
	h.Clock.Advance(2 * time.Second)
	require.Equal(t, time.Second, acquire(t, b, "openai", oneASecond), "the slot after the two reserved ones")
	h.Clock.Advance(time.Hour)
	for range oneASecond.Burst {
		require.Zero(t, acquire(t, b, "openai", oneASecond), "a quiet spell refills the burst")
	}
	require.Equal(t, time.Second, acquire(t, b, "openai", oneASecond), "and no more")
}

func testBudgetProvidersApart(t *testing.T, h Harness) {
	b := h.workerBudget()
	one := ports.Rate{PerMinute: 60, Burst: 1}
	require.Zero(t, acquire(t, b, "openai", one))
	require.Equal(t, time.Second, acquire(t, b, "openai", one))
	require.Zero(t, acquire(t, b, "gemini", one), "another provider's budget is its own")
	require.NoError(t, b.Pause(ctx(t), "job-1", "gemini", time.Minute))
	require.Zero(t, paused(t, h.budget(), "openai"))
	require.Equal(t, 2*time.Second, acquire(t, b, "openai", one), "nor is it paused by another's pause")
}

// A pause one worker reports holds every caller back until it ends, and
// calls then resume one per interval, not in a burst.
func testBudgetPauseShared(t *testing.T, h Harness) {
	require.Zero(t, paused(t, h.budget(), "perplexity"), "a provider never seen is not paused")
	require.NoError(t, h.workerBudget().Pause(ctx(t), "job-1", "perplexity", 3*time.Second))
	require.Equal(t, 3*time.Second, paused(t, h.budget(), "perplexity"), "the store sees the worker's pause")
	require.Equal(t, 3*time.Second, acquire(t, h.budget(), "perplexity", oneASecond))
	require.Equal(t, 4*time.Second, acquire(t, h.workerBudget(), "perplexity", oneASecond),
		"after the pause, one per interval: no burst into the provider that refused")
	h.Clock.Advance(time.Second)
	require.Equal(t, 2*time.Second, paused(t, h.workerBudget(), "perplexity"))
	h.Clock.Advance(2 * time.Second)
	require.Zero(t, paused(t, h.workerBudget(), "perplexity"), "the pause is over")
	require.Equal(t, 2*time.Second, acquire(t, h.budget(), "perplexity", oneASecond), "after the two slots already taken")
}

func testBudgetPauseKeepsLater(t *testing.T, h Harness) {
	b := h.workerBudget()
	require.NoError(t, b.Pause(ctx(t), "job-1", "gemini", 5*time.Second))
	require.NoError(t, h.budget().Pause(ctx(t), "job-2", "gemini", 2*time.Second))
	require.Equal(t, 5*time.Second, paused(t, b, "gemini"), "a shorter pause does not cut a longer one")
	require.NoError(t, h.budget().Pause(ctx(t), "job-2", "gemini", 8*time.Second))
	require.Equal(t, 8*time.Second, paused(t, b, "gemini"), "a longer one extends it")
}

// However many callers acquire at once, through whichever handle, each
// slot goes to one of them: at a frozen time the waits are exactly the
// burst at once and then one per interval.
func testBudgetConcurrent(t *testing.T, h Harness) {
	const callers = 24
	rate := ports.Rate{PerMinute: 600, Burst: 4} // one per 100ms
	var (
		mu    sync.Mutex
		waits []time.Duration
		wg    sync.WaitGroup
	)
	for i := range callers {
		b := h.workerBudget()
		if i%2 == 1 {
			b = h.budget()
		}
		wg.Go(func() {
			wait, err := b.Acquire(ctx(t), "job-1", "perplexity", rate)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			waits = append(waits, wait)
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Len(t, waits, callers)
	slices.Sort(waits)
	for i, w := range waits {
		want := time.Duration(max(0, i-rate.Burst+1)) * rate.Interval()
		require.Equal(t, want, w, "slot %d of %v", i, waits)
	}
}

func testBudgetInvalid(t *testing.T, h Harness) {
	b := h.workerBudget()
	_, err := b.Acquire(ctx(t), "job-1", "", oneASecond)
	require.ErrorIs(t, err, domain.ErrInvalid)
	for _, bad := range []ports.Rate{{PerMinute: 0, Burst: 1}, {PerMinute: 60, Burst: 0}} {
		_, err = b.Acquire(ctx(t), "job-1", "openai", bad)
		require.ErrorIs(t, err, domain.ErrInvalid, "%+v", bad)
	}
	require.ErrorIs(t, b.Pause(ctx(t), "job-1", "openai", 0), domain.ErrInvalid)
	require.ErrorIs(t, b.Pause(ctx(t), "job-1", "", time.Second), domain.ErrInvalid)
	_, err = b.Paused(ctx(t), "job-1", "")
	require.ErrorIs(t, err, domain.ErrInvalid)
	require.Zero(t, acquire(t, b, "openai", ports.Rate{PerMinute: 60, Burst: 1}), "the refused calls took nothing")
}

// ExerciseBudget runs the Budget group against a ports.ProviderBudget kept
// outside any store, such as one process's own. newBudget returns a fresh
// budget that reads its time from the FakeClock it returns.
func ExerciseBudget(t *testing.T, newBudget func(t *testing.T) (ports.ProviderBudget, *FakeClock)) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(budgetTests)) {
		t.Run(name, func(t *testing.T) {
			b, clock := newBudget(t)
			require.NotNil(t, b, "budget")
			require.NotNil(t, clock, "clock")
			budgetTests[name](t, Harness{Budget: b, Clock: clock})
		})
	}
}
