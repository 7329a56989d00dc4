package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// writeCounter counts a worker's writes to the store, each one commit, and
// the section results its saves carried.
type writeCounter struct {
	ports.WorkerStore
	mu     sync.Mutex
	writes []string
	saved  map[domain.SectionStatus]int
}

func (c *writeCounter) note(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, what)
}

func (c *writeCounter) Claim(ctx context.Context, req ports.ClaimRequest) (domain.Job, error) {
	c.note("claim")
	return c.WorkerStore.Claim(ctx, req)
}

func (c *writeCounter) Heartbeat(ctx context.Context, l ports.Lease, d time.Duration) error {
	c.note("heartbeat")
	return c.WorkerStore.Heartbeat(ctx, l, d)
}

func (c *writeCounter) SaveSection(ctx context.Context, l ports.Lease, s domain.SectionResult, more ...domain.SectionResult) error {
	c.note(fmt.Sprintf("save %s %s +%d", s.Key, s.Status, len(more)))
	c.mu.Lock()
	if c.saved == nil {
		c.saved = map[domain.SectionStatus]int{}
	}
	for _, r := range append([]domain.SectionResult{s}, more...) {
		c.saved[r.Status]++
	}
	c.mu.Unlock()
	return c.WorkerStore.SaveSection(ctx, l, s, more...)
}

// requireNoStartAlone asserts that no save was only a section's start.
func (c *writeCounter) requireNoStartAlone(t *testing.T) {
	t.Helper()
	for _, w := range c.writes {
		require.NotContains(t, w, string(domain.SectionRunning), "a start written on its own: %v", c.writes)
	}
}

func (c *writeCounter) Finish(ctx context.Context, l ports.Lease, status domain.JobStatus, msg string) (domain.Job, error) {
	c.note("finish")
	return c.WorkerStore.Finish(ctx, l, status, msg)
}

func (c *writeCounter) Release(ctx context.Context, l ports.Lease, reason string) error {
	c.note("release")
	return c.WorkerStore.Release(ctx, l, reason)
}

// A job's attempt writes the claim, at most one save per section and the
// finish: at most 15 commits, with its creation 16, whatever the section
// concurrency; fewer when saves meet and go as one write. No section's
// start has a write of its own: the claim records the jurisdiction's, and
// the save that ends a section records the next one's. Every section
// still has its started event, before its completed one.
func TestAttemptWritesOncePerSection(t *testing.T) {
	for _, conc := range []int{12, 4, 1} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			counter := &writeCounter{}
			e := newEnv(t, &scripted{}, func(c *app.WorkerConfig) {
				counter.WorkerStore, c.Store, c.SectionConcurrency = c.Store, counter, conc
			})
			job := e.submit(t)
			done, err := e.w.Work(context.Background(), job.ID, false)
			require.NoError(t, err)
			require.Equal(t, domain.JobCompleted, done.Status)

			n := len(counter.writes)
			require.LessOrEqual(t, n, 15, "claim, at most 13 saves, finish: %v", counter.writes)
			require.Equal(t, "claim", counter.writes[0])
			require.Equal(t, fmt.Sprintf("save jurisdiction completed +%d", min(conc, 12)), counter.writes[1],
				"the jurisdiction's save starts the first round")
			require.Equal(t, "finish", counter.writes[n-1])
			counter.requireNoStartAlone(t)
			require.Equal(t, 13, counter.saved[domain.SectionCompleted], "each section saved completed once")
			require.Equal(t, 12, counter.saved[domain.SectionRunning], "each start after the claim's saved once")

			evs, err := e.store.Events(context.Background(), job.ID, 0, 0)
			require.NoError(t, err)
			started, completed := map[string]int64{}, map[string]int64{}
			for _, ev := range evs {
				if ev.Type != domain.EventSection {
					continue
				}
				switch ev.Status {
				case string(domain.SectionRunning):
					require.NotContains(t, started, ev.Section, "started once")
					started[ev.Section] = ev.Seq
				case string(domain.SectionCompleted):
					completed[ev.Section] = ev.Seq
				}
			}
			require.Len(t, started, 13)
			require.Len(t, completed, 13)
			for key, seq := range completed {
				require.Less(t, started[key], seq, "%s started before it completed", key)
			}
		})
	}
}

// With verify on, a section's place passes on after its verification:
// research and verification of 13 sections make at most 26 saves, still
// no write of a start of its own.
func TestVerifyAttemptWritesTwicePerSection(t *testing.T) {
	counter := &writeCounter{}
	e := newEnv(t, &scripted{}, func(c *app.WorkerConfig) {
		counter.WorkerStore, c.Store, c.SectionConcurrency = c.Store, counter, 4
	})
	job, _, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield, IL",
		Provider: "scripted", Verify: new(true)})
	require.NoError(t, err)
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Equal(t, "13/13", done.VerifiedProgress())
	require.LessOrEqual(t, len(counter.writes), 28, "claim, at most 26 saves, finish: %v", counter.writes)
	counter.requireNoStartAlone(t)
	require.Equal(t, 26, counter.saved[domain.SectionCompleted], "each section saved researched, then verified")
}
