package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnect backoff of the LISTEN connection.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Watch implements ports.Changes. The first call starts the change feed and
// waits until it listens (or has fallen back to polling), so a change
// committed after Watch returns is never missed.
func (s *Store) Watch(ctx context.Context, jobID string) (<-chan struct{}, error) {
	if err := s.feedReady(ctx); err != nil {
		return nil, err
	}
	return s.changes.Watch(ctx, jobID)
}

// WatchState implements ports.Changes, as Watch does.
func (s *Store) WatchState(ctx context.Context, jobID string) (<-chan struct{}, error) {
	if err := s.feedReady(ctx); err != nil {
		return nil, err
	}
	return s.changes.WatchState(ctx, jobID)
}

// feedReady starts the change feed, if it is not started, and waits until
// it listens or polls.
func (s *Store) feedReady(ctx context.Context) error {
	l, err := s.startListener()
	if err != nil {
		return err
	}
	select {
	case <-l.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) startListener() (*listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if s.listener == nil {
		s.listener = newListener(s)
	}
	return s.listener, nil
}

// listener owns one dedicated connection that LISTENs on Channel and
// ProgressChannel and turns other processes' notifications into broadcasts
// (the store's own were broadcast as it committed them). After losing the
// connection it reconnects with backoff and wakes every watcher, since
// notifications sent meanwhile are lost. While it cannot listen at all it
// wakes every watcher each poll interval instead, so waiters degrade to
// polling rather than hang.
type listener struct {
	s      *Store
	ready  chan struct{} // closed once listening or polling
	once   sync.Once
	cancel context.CancelFunc
	done   chan struct{}
	pid    atomic.Uint32 // backend pid of the LISTEN connection, set after the resync; 0 when none
}

func newListener(s *Store) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{s: s, ready: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

func (l *listener) stop() {
	l.cancel()
	<-l.done
}

func (l *listener) markReady() { l.once.Do(func() { close(l.ready) }) }

func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	log := l.s.log.With("component", "postgres change feed", "channel", Channel)
	var poll *time.Ticker // set while falling back to polling
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	if l.s.listenConfig == nil { // no connection may LISTEN: poll for good
		log.Info("not listening; watchers are woken on a timer", "poll_interval", l.s.pollEvery)
		poll = time.NewTicker(l.s.pollEvery)
		l.markReady()
		for ctx.Err() == nil {
			l.pollFor(ctx, time.Hour, poll.C)
		}
		return
	}
	backoff := minBackoff
	for attempt := 0; ctx.Err() == nil; attempt++ {
		conn, err := l.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if poll == nil {
				log.Warn("LISTEN unavailable; falling back to polling: watchers are woken on a timer, not on each change",
					"poll_interval", l.s.pollEvery, "err", err)
				poll = time.NewTicker(l.s.pollEvery)
			}
			l.markReady()
			l.pollFor(ctx, backoff, poll.C)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		if poll != nil {
			poll.Stop()
			poll = nil
			log.Info("LISTEN established; polling stopped")
		}
		backoff = minBackoff
		l.markReady()
		if attempt > 0 {
			l.s.changes.NotifyAll() // resync: notifications were lost while disconnected
		}
		l.pid.Store(conn.PgConn().PID())
		err = l.receive(ctx, conn)
		l.pid.Store(0)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		log.Warn("lost the LISTEN connection; reconnecting", "err", err)
		l.pollFor(ctx, minBackoff, nil)
	}
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(connectCtx, l.s.listenConfig.Copy())
	if err != nil {
		return nil, err
	}
	for _, channel := range []string{Channel, ProgressChannel} {
		if _, err := conn.Exec(connectCtx, "LISTEN "+channel); err != nil {
			closeConn(conn)
			return nil, err
		}
	}
	return conn, nil
}

func (l *listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		switch {
		case err != nil:
			return err
		case l.s.own.has(n.PID): // the store's own: its watchers know
		case n.Channel == ProgressChannel:
			l.s.changes.NotifyProgress(n.Payload)
		default:
			l.s.changes.Notify(n.Payload)
		}
	}
}

// pollFor waits d, waking every watcher on each tick.
func (l *listener) pollFor(ctx context.Context, d time.Duration, tick <-chan time.Time) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-tick:
			l.s.changes.NotifyAll()
		}
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
