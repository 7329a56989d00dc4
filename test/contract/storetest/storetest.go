// Package storetest is the contract suite for ports.JobStore,
// ports.Changes, ports.WebhookOutbox and ports.ProviderBudget. Every store
// adapter, including in-memory fakes, runs Exercise from its own tests; an
// adapter that passes it is trusted by the application layer.
//
// The suite drives time through a FakeClock and never sleeps to synchronise.
package storetest

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Harness is one fresh, empty store under test.
type Harness struct {
	Store   ports.JobStore
	Changes ports.Changes
	// Worker, when set, is the worker's store under test (ExerciseWorker):
	// the suite makes a worker's calls through it and everything else (the
	// API, the dispatcher, other workers) through Store, which must be the
	// same data. When nil, Store is the worker's store too.
	Worker ports.WorkerStore
	// WorkerChanges is how the worker watches its job; Changes when nil.
	WorkerChanges ports.Changes
	// Webhooks is the store's webhook outbox; nil skips the Webhooks group
	// (for a store that is not one).
	Webhooks ports.WebhookOutbox
	// Budget is the store's provider budget; when nil, Store if it is a
	// ports.ProviderBudget. Without one the Budget group is skipped.
	Budget ports.ProviderBudget
	// WorkerBudget is the worker's provider budget under test (e.g. the
	// worker API's client), checked against Budget; when nil, Worker if it
	// is a ports.ProviderBudget, else Budget.
	WorkerBudget ports.ProviderBudget
	// Clock must be the clock the store reads its time from.
	Clock *FakeClock
	// Settle returns once every notification of the writes the store
	// committed has reached Changes' watchers: for Postgres, once its own
	// notifications have come back through LISTEN. A store whose watchers
	// are told as the write returns settles at once (func(testing.TB){}).
	// Nil for a store that polls, whose watchers wake on every poll: the
	// suite then skips what needs to see that a watcher heard nothing.
	Settle func(testing.TB)
}

// Start is a convenient starting time for a FakeClock: whole microseconds,
// UTC, so it survives every store's time precision.
var Start = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// lease is the lease the suite claims with.
const lease = 30 * time.Second

// Exercise runs the contract against stores made by newStore. newStore is
// called once per subtest and must return an empty store whose clock is
// Harness.Clock; it registers its own cleanup with t.
func Exercise(t *testing.T, newStore func(t *testing.T) Harness) {
	t.Helper()
	groups := []struct {
		name  string
		tests map[string]func(*testing.T, Harness)
	}{
		{"Jobs", jobTests},
		{"Claims", claimTests},
		{"Sections", sectionTests},
		{"Lifecycle", lifecycleTests},
		{"Dispatch", dispatchTests},
		{"Events", eventTests},
		{"Changes", changeTests},
		{"Webhooks", webhookTests},
		{"Budget", budgetTests},
		{"Reuse", reuseTests},
		{"CostCap", costCapTests},
		{"Verify", verifyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, name := range slices.Sorted(maps.Keys(g.tests)) {
				test := g.tests[name]
				t.Run(name, func(t *testing.T) {
					h := newStore(t)
					require.NotNil(t, h.Store, "Harness.Store")
					require.NotNil(t, h.Changes, "Harness.Changes")
					require.NotNil(t, h.Clock, "Harness.Clock")
					if g.name == "Webhooks" && h.Webhooks == nil {
						t.Skip("the store has no webhook outbox")
					}
					if g.name == "Budget" && h.budget() == nil {
						t.Skip("the store keeps no provider budget")
					}
					test(t, h)
				})
			}
		})
	}
}

// worker is the store the suite makes a worker's calls through.
func (h Harness) worker() ports.WorkerStore {
	if h.Worker != nil {
		return h.Worker
	}
	return h.Store
}

// workerChanges is what the worker watches its job with.
func (h Harness) workerChanges() ports.Changes {
	if h.WorkerChanges != nil {
		return h.WorkerChanges
	}
	return h.Changes
}

// requireSameJob asserts that got, as the worker's store returned it, is
// want as the store holds it. A worker store of its own (Harness.Worker)
// may leave out what a worker has no use for (the client's webhook URL and
// idempotency key, the dispatcher's bookkeeping), and its times may be in
// another location (they cross the wire as instants).
func requireSameJob(t *testing.T, h Harness, want, got domain.Job) {
	t.Helper()
	if h.Worker != nil {
		want.WebhookURL, want.IdempotencyKey, want.RequestHash = "", "", ""
		want.DispatchedAttempt, want.DispatchError = 0, ""
		want, got = inUTC(want), inUTC(got)
	}
	require.Equal(t, want, got)
}

// inUTC returns j with its times in UTC.
func inUTC(j domain.Job) domain.Job {
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	for _, p := range []**time.Time{&j.LeaseExpiresAt, &j.StartedAt, &j.FinishedAt} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
	return j
}

// fixture builds jobs for the suite.
type fixture struct {
	t *testing.T
	h Harness
}

func newFixture(t *testing.T, h Harness) fixture { return fixture{t: t, h: h} }

func ctx(t *testing.T) context.Context { return t.Context() }

// NewJob returns an unsaved job with a fresh UUIDv7 id and the given
// sections (all when none), for adapters' own tests.
func NewJob(sections ...string) domain.Job { return newJob(sections...) }

// newJob returns an unsaved job with a fresh UUIDv7 id and the given
// sections (all when none).
func newJob(sections ...string) domain.Job {
	keys, err := domain.NormalizeSections(sections)
	if err != nil {
		panic(err)
	}
	return domain.Job{
		ID:         uuid.Must(uuid.NewV7()).String(),
		Address:    "1600 Pennsylvania Ave NW, Washington, DC 20500",
		Provider:   "fake",
		Sections:   keys,
		WebhookURL: "https://example.com/hook",
	}
}

// create saves a fresh job and returns it.
func (f fixture) create(sections ...string) domain.Job {
	f.t.Helper()
	job, existed, err := f.h.Store.Create(ctx(f.t), newJob(sections...))
	require.NoError(f.t, err)
	require.False(f.t, existed)
	return job
}

// claim claims job by id, as a worker, and returns the processing job.
func (f fixture) claim(id string) domain.Job {
	f.t.Helper()
	job, err := f.h.worker().Claim(ctx(f.t), ports.ClaimRequest{JobID: id, Worker: "test", Lease: lease})
	require.NoError(f.t, err)
	return job
}

// get reads job id.
func (f fixture) get(id string) domain.Job {
	f.t.Helper()
	job, err := f.h.Store.Get(ctx(f.t), id)
	require.NoError(f.t, err)
	return job
}

// save stores a section result with status under l, as a worker.
func (f fixture) save(l ports.Lease, key string, status domain.SectionStatus) {
	f.t.Helper()
	require.NoError(f.t, f.h.worker().SaveSection(ctx(f.t), l, section(key, status)))
}

// section returns a minimal result for key.
func section(key string, status domain.SectionStatus) domain.SectionResult {
	spec, _ := domain.LookupSection(key)
	s := domain.NewSectionResult(spec)
	s.Status = status
	if status == domain.SectionFailed {
		s.Error = "provider said no"
	}
	if status == domain.SectionCompleted {
		s.Summary = "summary of " + key
		s.Outcome = domain.OutcomeFound
		s.Confidence = domain.ConfidenceHigh
	}
	return s
}

func leaseOf(job domain.Job) ports.Lease { return ports.Lease{JobID: job.ID, Attempt: job.Attempt} }

// usec truncates t to the microsecond precision every store keeps.
func usec(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// requireTime asserts that got is set and equals want.
func requireTime(t *testing.T, want time.Time, got *time.Time, msg string) {
	t.Helper()
	require.NotNil(t, got, msg)
	require.True(t, usec(want).Equal(*got), "%s: want %s, got %s", msg, want, *got)
}
