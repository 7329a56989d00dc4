package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// flakyStore fails the saves of finished sections, as a database that
// restarts or drops connections would, a given number of times.
type flakyStore struct {
	ports.WorkerStore
	mu       sync.Mutex
	failures int // finished-section saves still to fail; < 0: all
	failed   int
}

func (f *flakyStore) SaveSection(ctx context.Context, l ports.Lease, s domain.SectionResult, more ...domain.SectionResult) error {
	f.mu.Lock()
	fail := s.Status == domain.SectionCompleted && f.failures != 0
	if fail {
		f.failures--
		f.failed++
	}
	f.mu.Unlock()
	if fail {
		return errors.New("write tcp 127.0.0.1:5432: connection reset by peer")
	}
	return f.WorkerStore.SaveSection(ctx, l, s, more...)
}

// A store error while saving a paid answer is retried; the provider is not
// asked again.
func TestStoreErrorOnSaveIsRetriedWithoutASecondProviderCall(t *testing.T) {
	flaky := &flakyStore{failures: 4}
	e := newEnv(t, &scripted{}, func(c *app.WorkerConfig) { flaky.WorkerStore = c.Store; c.Store = flaky })
	job := e.submit(t)
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Equal(t, "13/13", done.Progress())
	require.Equal(t, 4, flaky.failed, "the store failed")
	for _, key := range domain.SectionKeys() {
		require.Equal(t, 1, e.llm.callsFor(key), "section %s researched once", key)
	}
}

// When the store stays down for longer than the lease can hold, the job is
// given back, and the reason names the store failure rather than a
// stopping worker.
func TestStoreDownReleasesWithTheRealReason(t *testing.T) {
	flaky := &flakyStore{failures: -1}
	e := newEnv(t, &scripted{}, func(c *app.WorkerConfig) {
		flaky.WorkerStore = c.Store
		c.Store = flaky
		c.Lease = 300 * time.Millisecond
	})
	job := e.submit(t, domain.JurisdictionKey)
	_, err := e.w.Work(context.Background(), job.ID, false)
	require.ErrorIs(t, err, app.ErrReleased)
	require.ErrorContains(t, err, "the store failed")
	require.ErrorContains(t, err, "connection reset by peer")
	require.Equal(t, 1, e.llm.callsFor(domain.JurisdictionKey))
	require.Equal(t, domain.JobPending, e.report(t, job.ID).Job.Status)
}

// A worker leaves jobs of a provider it lacks for a worker that has it.
func TestWorkerTakesOnlyJobsOfItsProviders(t *testing.T) {
	e := newEnv(t, &scripted{}, nil)
	other := otherProviderJob(t, e)

	ran, err := e.w.RunNext(context.Background(), nil)
	require.NoError(t, err)
	require.False(t, ran, "the job is not this worker's to run")

	_, err = e.w.Work(context.Background(), other.ID, false)
	require.ErrorIs(t, err, app.ErrProviderUnavailable)
	after := e.report(t, other.ID).Job
	require.Equal(t, domain.JobPending, after.Status)
	require.Equal(t, 0, after.Attempt, "the job was left as it was")
	require.Empty(t, e.llm.calls)
}

// otherProviderJob stores a pending job for a provider the env's worker
// does not have, as another process with that provider would submit it.
func otherProviderJob(t *testing.T, e *env) domain.Job {
	t.Helper()
	j := domain.Job{ID: "0199a5b0-0000-7000-8000-000000000001", Address: "1 Main St, Springfield, IL",
		Provider: "perplexity", Sections: domain.SectionKeys()}
	saved, _, err := e.store.Create(context.Background(), j)
	require.NoError(t, err)
	return saved
}

// flakyFinish fails the first finishes with a transient error.
type flakyFinish struct {
	ports.WorkerStore
	failures int
}

func (f *flakyFinish) Finish(ctx context.Context, l ports.Lease, status domain.JobStatus, msg string) (domain.Job, error) {
	if f.failures > 0 {
		f.failures--
		return domain.Job{}, errors.New("FATAL: terminating connection due to idle-in-transaction timeout (SQLSTATE 25P03)")
	}
	return f.WorkerStore.Finish(ctx, l, status, msg)
}

// A store error while finishing is retried: the job ends completed, not
// left processing until its lease runs out and researched again.
func TestStoreErrorOnFinishIsRetried(t *testing.T) {
	flaky := &flakyFinish{failures: 2}
	e := newEnv(t, &scripted{}, func(c *app.WorkerConfig) { flaky.WorkerStore = c.Store; c.Store = flaky })
	job := e.submit(t)
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Zero(t, flaky.failures, "both failures happened")
	require.Equal(t, domain.JobCompleted, e.report(t, job.ID).Job.Status)
}
