package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointPace is how long the checkpointer lets commits gather after
// the first one it hears of before it checkpoints them.
const checkpointPace = 100 * time.Millisecond

// checkpointer copies the write-ahead log back into the database file off
// the writer's path.
//
// SQLite's own automatic checkpoint runs inside the commit that takes the
// log past wal_autocheckpoint pages (1,000): that commit, and every write
// queued behind the one writer, waits for the copy and its fsync, 14-20 ms
// on this machine's disk while `POST /jobs` ran, which made most of its
// p99 (bench/api.sh). So the writer's connection turns it off
// (wal_autocheckpoint(0)), and the checkpointer, on a connection of its
// own, runs a PASSIVE checkpoint, which takes no write lock, at most every
// checkpointPace while commits go on. A process that stops before that
// leaves the log to SQLite, which checkpoints it when the last connection
// closes.
type checkpointer struct {
	db    *sql.DB // its own connection, opened at the first checkpoint
	dirty atomic.Bool
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	// closed makes close idempotent, as the store's Close is.
	closed sync.Once
	err    error
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed tells the checkpointer of a commit.
func (c *checkpointer) committed() {
	if c == nil || c.dirty.Swap(true) {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	pace := time.NewTimer(checkpointPace)
	pace.Stop()
	defer pace.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		pace.Reset(checkpointPace)
		select {
		case <-c.stop:
			return
		case <-pace.C:
		}
		c.dirty.Store(false) // commits from now on wake the next round
		if _, err := c.checkpoint(context.Background()); err != nil {
			// Tried again after the next commit; until then the log grows.
			slog.Warn("sqlite: checkpoint failed", "err", err)
		}
	}
}

// checkpoint runs one PASSIVE checkpoint and returns how many frames the
// log holds and how many of them are now in the database file.
func (c *checkpointer) checkpoint(ctx context.Context) (frames [2]int, err error) {
	var busy int
	err = c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames[0], &frames[1])
	return frames, err
}

// close stops the checkpointer and closes its connection; again, it
// returns what the first close did.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	c.closed.Do(func() {
		close(c.stop)
		<-c.done
		c.err = c.db.Close()
	})
	return c.err
}
