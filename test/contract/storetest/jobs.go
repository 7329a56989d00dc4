package storetest

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var jobTests = map[string]func(*testing.T, Harness){
	"CreateAndGet":             testCreateAndGet,
	"CountLive":                testCountLive,
	"ProjectRoundTrip":         testProjectRoundTrip,
	"CreateRequiresFields":     testCreateRequiresFields,
	"CreateTakenID":            testCreateTakenID,
	"GetUnknown":               testGetUnknown,
	"ListNewestFirst":          testListNewestFirst,
	"ListStatusFilter":         testListStatusFilter,
	"ListPages":                testListPages,
	"ListDefaultLimit":         testListDefaultLimit,
	"ListBadInput":             testListBadInput,
	"IdempotencyKey":           testIdempotencyKey,
	"IdempotencyKeyConcurrent": testIdempotencyKeyConcurrent,
	"IdempotencyKeyOptional":   testIdempotencyKeyOptional,
	"PingReachesTheStore":      testPing,
}

// A job id is the job's: a second create with it, with or without an
// idempotency key, is a conflict (409 at the API), and changes nothing.
func testCreateTakenID(t *testing.T, h Harness) {
	first, _, err := h.Store.Create(ctx(t), newJob())
	require.NoError(t, err)
	for _, key := range []string{"", "another-key"} {
		again := newJob("zoning_use")
		again.ID, again.IdempotencyKey = first.ID, key
		_, _, err := h.Store.Create(ctx(t), again)
		require.ErrorIs(t, err, domain.ErrConflict, "idempotency key %q", key)
	}
	got, err := h.Store.Get(ctx(t), first.ID)
	require.NoError(t, err)
	require.Equal(t, first.Sections, got.Sections)
	evs, err := h.Store.Events(ctx(t), first.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, evs, 1, "only the first create's event")
}

func testCreateAndGet(t *testing.T, h Harness) {
	in := newJob("zoning_use", "energy_code")
	in.IdempotencyKey = "key-1"
	in.RequestHash = "hash-1"
	saved, existed, err := h.Store.Create(ctx(t), in)
	require.NoError(t, err)
	require.False(t, existed)

	now := usec(h.Clock.Now())
	require.Equal(t, in.ID, saved.ID)
	require.Equal(t, in.Address, saved.Address)
	require.Equal(t, in.Provider, saved.Provider)
	require.Equal(t, []string{domain.JurisdictionKey, "zoning_use", "energy_code"}, saved.Sections)
	require.Equal(t, in.WebhookURL, saved.WebhookURL)
	require.Equal(t, "key-1", saved.IdempotencyKey)
	require.Equal(t, "hash-1", saved.RequestHash)
	require.Equal(t, domain.JobPending, saved.Status)
	require.Zero(t, saved.Attempt)
	require.Zero(t, saved.Done)
	require.Equal(t, "0/3", saved.Progress())
	require.True(t, now.Equal(saved.CreatedAt), "created_at %s, want %s", saved.CreatedAt, now)
	require.True(t, now.Equal(saved.UpdatedAt))
	require.Nil(t, saved.StartedAt)
	require.Nil(t, saved.FinishedAt)
	require.Nil(t, saved.LeaseExpiresAt)

	got, err := h.Store.Get(ctx(t), in.ID)
	require.NoError(t, err)
	require.Equal(t, saved, got)
}

func testProjectRoundTrip(t *testing.T, h Harness) {
	stories, area := 3, 2400
	in := newJob("zoning_use")
	in.Project = &domain.Project{Use: "mixed-use: café & 2 flats \"quoted\" ‹x›", Scope: domain.ScopeChangeOfUse,
		Stories: &stories, FloorAreaSqFt: &area, Description: "convert ground-floor retail; ünïcode"}
	saved, _, err := h.Store.Create(ctx(t), in)
	require.NoError(t, err)
	require.Equal(t, in.Project, saved.Project)

	got, err := h.Store.Get(ctx(t), in.ID)
	require.NoError(t, err)
	require.Equal(t, in.Project, got.Project)
	page, err := h.Store.List(ctx(t), ports.ListFilter{})
	require.NoError(t, err)
	require.Equal(t, in.Project, page.Jobs[0].Project, "List reads the project too")

	bare := newJob()
	_, _, err = h.Store.Create(ctx(t), bare)
	require.NoError(t, err)
	got, err = h.Store.Get(ctx(t), bare.ID)
	require.NoError(t, err)
	require.Nil(t, got.Project, "a job without a project reads back without one")
}

func testCreateRequiresFields(t *testing.T, h Harness) {
	for name, breakJob := range map[string]func(*domain.Job){
		"id":       func(j *domain.Job) { j.ID = "" },
		"address":  func(j *domain.Job) { j.Address = "" },
		"provider": func(j *domain.Job) { j.Provider = "" },
		"sections": func(j *domain.Job) { j.Sections = nil },
	} {
		job := newJob()
		breakJob(&job)
		_, _, err := h.Store.Create(ctx(t), job)
		require.ErrorIs(t, err, domain.ErrInvalid, name)
	}
}

func testGetUnknown(t *testing.T, h Harness) {
	_, err := h.Store.Get(ctx(t), newJob().ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
}

// createSpaced creates n jobs, moving the clock by step between them, and
// returns their ids newest first.
func createSpaced(t *testing.T, h Harness, n int, step time.Duration) []string {
	f := newFixture(t, h)
	ids := make([]string, 0, n)
	for range n {
		ids = append(ids, f.create().ID)
		h.Clock.Advance(step)
	}
	slices.Reverse(ids)
	return ids
}

func ids(jobs []domain.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func testListNewestFirst(t *testing.T, h Harness) {
	want := createSpaced(t, h, 5, time.Second)
	page, err := h.Store.List(ctx(t), ports.ListFilter{})
	require.NoError(t, err)
	require.Equal(t, want, ids(page.Jobs))
	require.Empty(t, page.NextCursor)
}

func testListStatusFilter(t *testing.T, h Harness) {
	all := createSpaced(t, h, 4, time.Second)
	f := newFixture(t, h)
	_, err := h.Store.Cancel(ctx(t), all[1])
	require.NoError(t, err)
	_, err = h.Store.Cancel(ctx(t), all[3])
	require.NoError(t, err)
	f.claim(all[0])

	for status, want := range map[domain.JobStatus][]string{
		domain.JobCanceled:   {all[1], all[3]},
		domain.JobPending:    {all[2]},
		domain.JobProcessing: {all[0]},
		domain.JobFailed:     nil,
	} {
		page, err := h.Store.List(ctx(t), ports.ListFilter{Status: status})
		require.NoError(t, err)
		require.Equal(t, len(want), len(page.Jobs), status)
		if len(want) > 0 {
			require.Equal(t, want, ids(page.Jobs), status)
		}
		for _, j := range page.Jobs {
			require.Equal(t, status, j.Status)
		}
	}
}

func testListPages(t *testing.T, h Harness) {
	// Jobs created in the same instant are ordered by id, so the cursor
	// must carry the id as a tie-breaker.
	var want []string
	want = append(want, createSpaced(t, h, 4, 0)...)
	h.Clock.Advance(time.Second)
	want = append(createSpaced(t, h, 4, 0), want...)
	slices.SortStableFunc(want[:4], func(a, b string) int { return strings.Compare(b, a) })
	slices.SortStableFunc(want[4:], func(a, b string) int { return strings.Compare(b, a) })

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4, "too many pages")
		page, err := h.Store.List(ctx(t), ports.ListFilter{Limit: 3, Cursor: cursor})
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Jobs), 3)
		got = append(got, ids(page.Jobs)...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Equal(t, want, got)
}

func testListDefaultLimit(t *testing.T, h Harness) {
	createSpaced(t, h, 21, time.Millisecond)
	page, err := h.Store.List(ctx(t), ports.ListFilter{})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 20)
	require.NotEmpty(t, page.NextCursor)

	page, err = h.Store.List(ctx(t), ports.ListFilter{Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1)
	require.Empty(t, page.NextCursor)
}

func testListBadInput(t *testing.T, h Harness) {
	createSpaced(t, h, 1, 0)
	for _, cursor := range []string{"garbage!", "bm90LWEtY3Vyc29y", "%%%"} {
		_, err := h.Store.List(ctx(t), ports.ListFilter{Cursor: cursor})
		require.ErrorIs(t, err, domain.ErrInvalid, cursor)
	}
	_, err := h.Store.List(ctx(t), ports.ListFilter{Status: "sleeping"})
	require.ErrorIs(t, err, domain.ErrInvalid)
}

func testIdempotencyKey(t *testing.T, h Harness) {
	first := newJob()
	first.IdempotencyKey, first.RequestHash = "same-key", "hash-a"
	saved, existed, err := h.Store.Create(ctx(t), first)
	require.NoError(t, err)
	require.False(t, existed)

	h.Clock.Advance(time.Hour)
	again := newJob()
	again.IdempotencyKey, again.RequestHash = "same-key", "hash-a"
	got, existed, err := h.Store.Create(ctx(t), again)
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, saved, got)

	other := newJob()
	other.IdempotencyKey, other.RequestHash = "same-key", "hash-b"
	_, _, err = h.Store.Create(ctx(t), other)
	require.ErrorIs(t, err, domain.ErrIdempotencyMismatch)

	_, err = h.Store.Get(ctx(t), again.ID)
	require.ErrorIs(t, err, domain.ErrNotFound, "a replayed request must not create a job")
	page, err := h.Store.List(ctx(t), ports.ListFilter{})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1)
}

func testIdempotencyKeyConcurrent(t *testing.T, h Harness) {
	const n = 10
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		seen    = map[string]bool{}
	)
	for range n {
		wg.Go(func() {
			job := newJob()
			job.IdempotencyKey, job.RequestHash = "race", "hash"
			saved, existed, err := h.Store.Create(ctx(t), job)
			if !assertNoError(t, err) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			seen[saved.ID] = true
			if !existed {
				created++
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, created, "exactly one Create reports a new job")
	require.Len(t, seen, 1, "every Create returns the same job")
}

func testIdempotencyKeyOptional(t *testing.T, h Harness) {
	f := newFixture(t, h)
	a, b := f.create(), f.create()
	require.NotEqual(t, a.ID, b.ID)
	require.Empty(t, a.IdempotencyKey)
}

func testPing(t *testing.T, h Harness) {
	require.NoError(t, h.Store.Ping(ctx(t)))
}

// assertNoError reports err from a goroutine other than the test's, where
// require must not be used.
func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}

// A store that counts live jobs (for the metrics' gauges) counts pending
// and processing ones up to the limit.
func testCountLive(t *testing.T, h Harness) {
	c, ok := h.Store.(interface {
		CountLive(ctx context.Context, limit int) (map[domain.JobStatus]int, error)
	})
	if !ok {
		t.Skip("this store does not count live jobs")
	}
	f := newFixture(t, h)
	for range 3 {
		f.create()
	}
	f.claim(f.create().ID)
	got, err := c.CountLive(ctx(t), 100)
	require.NoError(t, err)
	require.Equal(t, map[domain.JobStatus]int{domain.JobPending: 3, domain.JobProcessing: 1}, got)
	got, err = c.CountLive(ctx(t), 2)
	require.NoError(t, err)
	require.Equal(t, map[domain.JobStatus]int{domain.JobPending: 2, domain.JobProcessing: 1}, got, "capped")
}
