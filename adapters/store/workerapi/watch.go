// Watch: learning of a cancel or a takeover from the answers the worker already gets, and a slow poll when it gets none.

package workerapi

import (
	"context"
	"fmt"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// jobState is what the Client knows of one job.
type jobState struct {
	watchers map[chan struct{}]struct{}
	// status and attempt are the last seen, when known.
	known   bool
	status  domain.JobStatus
	attempt int
	// heard is when the API last answered about the job: while it keeps
	// answering, the job has not moved on unseen (a cancel or takeover
	// would have refused the worker's fenced writes).
	heard time.Time
}

// Watch implements ports.Changes for one job (a worker token covers one
// job; jobID "" is domain.ErrInvalid). The channel receives a value when a
// call sees the job change status or attempt, when a fenced write is
// refused with a lost lease, and when a poll of the job (after
// WithWatchInterval without hearing of the job) sees a change. The worker's
// own section saves and heartbeats notify nobody: they change nothing it
// must act on. The first poll of a job this Client never read notifies.
func (c *Client) Watch(ctx context.Context, jobID string) (<-chan struct{}, error) {
	if jobID == "" {
		return nil, fmt.Errorf("worker API watch: a worker token covers one job; name it: %w", domain.ErrInvalid)
	}
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.state(jobID).watchers[ch] = struct{}{}
	c.mu.Unlock()
	go func() {
		defer c.unwatch(jobID, ch)
		c.poll(ctx, jobID)
	}()
	return ch, nil
}

// poll reads the job whenever it went unheard of for the watch interval,
// until ctx is done.
func (c *Client) poll(ctx context.Context, jobID string) {
	if c.watchEvery <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(c.watchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if c.quietFor(jobID) >= c.watchEvery {
				_, _ = c.Get(ctx, jobID) // Get observes; an error is retried next tick
			}
		}
	}
}

// WatchState implements ports.Changes: it is Watch, which tells of the
// job's state only already.
func (c *Client) WatchState(ctx context.Context, jobID string) (<-chan struct{}, error) {
	return c.Watch(ctx, jobID)
}

func (c *Client) unwatch(jobID string, ch chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.state(jobID).watchers, ch)
	close(ch)
}

// state returns the job's state, creating it. States are kept for the
// Client's life: a worker's Client serves one job, or a few. c.mu must be
// held.
func (c *Client) state(jobID string) *jobState {
	st, ok := c.jobs[jobID]
	if !ok {
		st = &jobState{watchers: map[chan struct{}]struct{}{}}
		c.jobs[jobID] = st
	}
	return st
}

// observe records the job as a call returned it, and notifies the
// watchers when its status or attempt changed (or was not known).
func (c *Client) observe(j domain.Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state(j.ID)
	changed := !st.known || st.status != j.Status || st.attempt != j.Attempt
	st.known, st.status, st.attempt, st.heard = true, j.Status, j.Attempt, time.Now()
	if changed {
		st.notify()
	}
}

// heard records that the API answered about the job.
func (c *Client) heard(jobID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state(jobID).heard = time.Now()
}

// wake notifies the job's watchers: a fenced write was refused.
func (c *Client) wake(jobID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.jobs[jobID]; ok {
		st.notify()
	}
}

// quietFor is how long the job has gone unheard of.
func (c *Client) quietFor(jobID string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.jobs[jobID]
	if !ok || st.heard.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return time.Since(st.heard)
}

// notify sends to every watcher without blocking: a pending value already
// says the job changed. c.mu must be held.
func (st *jobState) notify() {
	for ch := range st.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
