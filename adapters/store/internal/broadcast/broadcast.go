// Package broadcast fans job-change notifications out to in-process watchers.
// Both store adapters use it to implement ports.Changes: SQLite feeds it after
// each commit, Postgres from LISTEN/NOTIFY. It carries no state, only "job X
// changed", and must never block the writer that notifies.
package broadcast

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Watch after Close.
var ErrClosed = errors.New("change feed closed")

// Broadcaster delivers coalesced notifications to watchers of one job or of
// all jobs (key ""). The zero value is not usable; call New.
type Broadcaster struct {
	mu       sync.Mutex
	closed   bool
	watchers map[string]map[chan struct{}]struct{}
}

// New returns an empty Broadcaster.
func New() *Broadcaster {
	return &Broadcaster{watchers: make(map[string]map[chan struct{}]struct{})}
}

// Watch returns a channel that receives a value whenever Notify names jobID,
// or on any Notify when jobID is "". The channel holds at most one pending
// value (coalescing) and is closed when ctx is done or the Broadcaster closes.
func (b *Broadcaster) Watch(ctx context.Context, jobID string) (<-chan struct{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	set := b.watchers[jobID]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		b.watchers[jobID] = set
	}
	set[ch] = struct{}{}
	context.AfterFunc(ctx, func() { b.remove(jobID, ch) })
	return ch, nil
}

func (b *Broadcaster) remove(jobID string, ch chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.watchers[jobID]
	if _, ok := set[ch]; !ok {
		return // already closed by Close
	}
	delete(set, ch)
	if len(set) == 0 {
		delete(b.watchers, jobID)
	}
	close(ch)
}

// Notify wakes the watchers of jobID and the watchers of all jobs.
func (b *Broadcaster) Notify(jobID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	signal(b.watchers[jobID])
	if jobID != "" {
		signal(b.watchers[""])
	}
}

// NotifyAll wakes every watcher, e.g. after a lost connection was
// re-established and notifications may have been missed.
func (b *Broadcaster) NotifyAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, set := range b.watchers {
		signal(set)
	}
}

// Close closes every watcher's channel and refuses new watchers.
func (b *Broadcaster) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for key, set := range b.watchers {
		for ch := range set {
			close(ch)
		}
		delete(b.watchers, key)
	}
}

func signal(set map[chan struct{}]struct{}) {
	for ch := range set {
		select {
		case ch <- struct{}{}:
		default: // a notification is already pending: coalesce
		}
	}
}
