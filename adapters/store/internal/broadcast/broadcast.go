// Package broadcast fans job-change notifications out to in-process watchers.
// Both store adapters use it to implement ports.Changes: SQLite feeds it after
// each commit, Postgres from LISTEN/NOTIFY. It carries no state, only "job X
// changed" or "job X progressed", and must never block the writer that
// notifies.
package broadcast

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Watch after Close.
var ErrClosed = errors.New("change feed closed")

// Broadcaster delivers coalesced notifications to watchers of one job or of
// all jobs (key ""). A watcher hears of every change (Watch) or only of
// changes to the job's state (WatchState): progress, a section of a running
// attempt started or saved, wakes only the first kind. The zero value is not
// usable; call New.
type Broadcaster struct {
	mu     sync.Mutex
	closed bool
	// watchers maps a job id ("" for all jobs) to its watchers' channels,
	// each with whether it hears of progress.
	watchers map[string]map[chan struct{}]bool
}

// New returns an empty Broadcaster.
func New() *Broadcaster {
	return &Broadcaster{watchers: make(map[string]map[chan struct{}]bool)}
}

// Watch returns a channel that receives a value whenever Notify or
// NotifyProgress names jobID, or on any of them when jobID is "". The
// channel holds at most one pending value (coalescing) and is closed when
// ctx is done or the Broadcaster closes.
func (b *Broadcaster) Watch(ctx context.Context, jobID string) (<-chan struct{}, error) {
	return b.watch(ctx, jobID, true)
}

// WatchState is Watch without progress: NotifyProgress does not wake it.
func (b *Broadcaster) WatchState(ctx context.Context, jobID string) (<-chan struct{}, error) {
	return b.watch(ctx, jobID, false)
}

func (b *Broadcaster) watch(ctx context.Context, jobID string, progress bool) (<-chan struct{}, error) {
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
		set = make(map[chan struct{}]bool)
		b.watchers[jobID] = set
	}
	set[ch] = progress
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

// Notify wakes every watcher of jobID and of all jobs: the job's state
// changed (it was created, claimed, handed off, finished...).
func (b *Broadcaster) Notify(jobID string) { b.notify(jobID, false) }

// NotifyProgress wakes the watchers of jobID and of all jobs that hear of
// progress (Watch, not WatchState): a section of the job's running attempt
// started or was saved, and nothing else about the job changed.
func (b *Broadcaster) NotifyProgress(jobID string) { b.notify(jobID, true) }

func (b *Broadcaster) notify(jobID string, progress bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	signal(b.watchers[jobID], progress)
	if jobID != "" {
		signal(b.watchers[""], progress)
	}
}

// NotifyAll wakes every watcher, e.g. after a lost connection was
// re-established and notifications may have been missed.
func (b *Broadcaster) NotifyAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, set := range b.watchers {
		signal(set, false)
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

// signal wakes the watchers in set; for progress, only those that hear of
// it.
func signal(set map[chan struct{}]bool, progress bool) {
	for ch, hearsProgress := range set {
		if progress && !hearsProgress {
			continue
		}
		select {
		case ch <- struct{}{}:
		default: // a notification is already pending: coalesce
		}
	}
}
