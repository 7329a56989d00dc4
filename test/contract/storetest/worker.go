package storetest

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// workerGroups are the tests of the worker's side of the store: claiming a
// job by id, leases and heartbeats, fencing, sections, finishing and
// releasing, learning of a cancel or a takeover, and the provider budget
// (Harness.WorkerBudget against Harness.Budget). Exercise runs them
// too, with the store as its own worker store.
var workerGroups = []struct {
	name  string
	tests map[string]func(*testing.T, Harness)
}{
	{"Claims", pick(claimTests, "ClaimByID", "ClaimByIDTerminal", "ClaimByIDIsExclusive", "ClaimRecordsExecutor",
		"HeartbeatExtendsLease", "FencingAfterTakeover", "FencingAfterCancel", "FencedWritesUnknownJob")},
	{"Sections", sectionTests},
	{"Lifecycle", pick(lifecycleTests, "FinishCompleted", "FinishFailed", "FinishRejectsStatus",
		"ReleaseKeepsSections", "Retry")},
	{"Changes", pick(changeTests, "WorkerSeesCancel", "WorkerSeesTakeover")},
	{"Budget", budgetTests},
	{"Reuse", reuseTests},
	{"CostCap", costCapTests},
}

// ExerciseWorker runs the worker's side of the contract against the
// ports.WorkerStore in Harness.Worker (and the ports.Changes in
// Harness.WorkerChanges, if any), e.g. a client of the worker API. Store,
// Changes and Clock are the store behind it: the suite creates, cancels and
// retries jobs, plays other workers and moves time through them. Worker
// stores see the same data, but may leave out of the jobs they return what
// a worker has no use for (the webhook URL, the idempotency key, the
// dispatcher's bookkeeping).
func ExerciseWorker(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	for _, g := range workerGroups {
		t.Run(g.name, func(t *testing.T) {
			for _, name := range slices.Sorted(maps.Keys(g.tests)) {
				test := g.tests[name]
				t.Run(name, func(t *testing.T) {
					h := newHarness(t)
					require.NotNil(t, h.Store, "Harness.Store")
					require.NotNil(t, h.Changes, "Harness.Changes")
					require.NotNil(t, h.Clock, "Harness.Clock")
					require.NotNil(t, h.Worker, "Harness.Worker")
					if g.name == "Budget" && (h.budget() == nil || h.workerBudget() == h.budget()) {
						t.Skip("no provider budget on both sides")
					}
					test(t, h)
				})
			}
		})
	}
}

// pick returns the named tests of group.
func pick(group map[string]func(*testing.T, Harness), names ...string) map[string]func(*testing.T, Harness) {
	out := make(map[string]func(*testing.T, Harness), len(names))
	for _, n := range names {
		test, ok := group[n]
		if !ok {
			panic("storetest: no test " + n)
		}
		out[n] = test
	}
	return out
}
