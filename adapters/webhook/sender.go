package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Options tune a Sender. Zero values pick the defaults.
type Options struct {
	Logger *slog.Logger
	// MaxAttempts is the number of delivery attempts per message (default
	// 6); after the last one fails the delivery is given up in the store.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure (default 1s); it
	// doubles after each further failure, with jitter, up to MaxBackoff
	// (default 5m). A longer Retry-After from the receiver wins.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxInFlight bounds the requests running at once (default 32). A
	// delivery holds a slot only while its request runs, never while it
	// waits for its retry.
	MaxInFlight int
	// PollInterval is how often the outbox is looked at when nothing woke
	// the sender (default 5s): deliveries owed by other processes, and
	// retries this process did not schedule itself.
	PollInterval time.Duration
	// Hold is how long a delivery taken from the outbox stays away from
	// other senders (default: the request timeout plus 30s). A sender that
	// died mid-request gives its delivery back when the hold ends. It must
	// exceed the request timeout (the client's Timeout, or 30s).
	Hold time.Duration
	// Now is the clock for webhook-timestamp and retry times (default
	// time.Now). It should be the store's clock.
	Now func() time.Time
}

// Sender delivers the webhooks the store owes: the store records a delivery
// in the same transaction that ends a job with a webhook_url, and the
// Sender, once started, takes due deliveries from that outbox, POSTs each
// and records the outcome (delivered, failed with a retry time, or given
// up). The backlog lives in the store, not in memory, so nothing is lost
// when the process stops: a restarted Sender, or one in another process on
// the same database, makes what is left.
type Sender struct {
	keys    [][]byte // each delivery is signed with every one
	client  *http.Client
	timeout time.Duration // per request
	outbox  ports.WebhookOutbox
	jobs    ports.JobStore
	changes ports.Changes
	opts    Options
	log     *slog.Logger
	// changeGap is the least time between two passes caused by store
	// changes: every section saved is a change, and a pass is a write.
	changeGap time.Duration

	wake     chan struct{} // 1-buffered: look at the outbox now
	loopCtx  context.Context
	stopLoop context.CancelFunc
	loopDone chan struct{}
	baseCtx  context.Context    // requests run under it
	abort    context.CancelFunc // cancels requests still running when Close times out

	mu       sync.Mutex
	started  bool
	closed   bool
	inFlight int           // slots reserved or in use
	nextDue  time.Time     // earliest retry this process scheduled that is still ahead
	ended    chan struct{} // closed and replaced whenever a delivery ends
	wg       sync.WaitGroup
}

// New returns a Sender signing with secret, given either as "whsec_<base64>"
// (the Standard Webhooks form) or as raw text, that delivers what outbox
// owes. Several secrets separated by commas (key rotation: the new one
// beside the old while receivers move over) sign each delivery once each,
// the signatures space-separated in one webhook-signature header, so a
// receiver holding any one of them verifies it. The Sender reads each job
// from jobs when it is sent and wakes on changes.
// client nil builds one with NewHTTPClient(false, 10s): deliveries then
// refuse non-public addresses at dial time. Pass NewHTTPClient(true, ...)
// to allow private targets. The Sender does nothing until Start.
func New(secret string, client *http.Client, outbox ports.WebhookOutbox, jobs ports.JobStore, changes ports.Changes,
	opts Options) (*Sender, error) {
	keys, err := decodeSecrets(secret)
	if err != nil {
		return nil, err
	}
	if outbox == nil || jobs == nil || changes == nil {
		return nil, errors.New("webhook: New needs an outbox, a job store and a change feed")
	}
	if client == nil {
		client = NewHTTPClient(false, 10*time.Second)
	}
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts = withDefaults(opts, timeout)
	if opts.Hold <= timeout {
		return nil, errors.New("webhook: the hold must exceed the request timeout, or a slow request could be sent twice at once")
	}
	loopCtx, stopLoop := context.WithCancel(context.Background())
	baseCtx, abort := context.WithCancel(context.Background())
	return &Sender{keys: keys, client: client, timeout: timeout, outbox: outbox, jobs: jobs, changes: changes,
		opts: opts, log: opts.Logger, changeGap: time.Second,
		wake: make(chan struct{}, 1), loopCtx: loopCtx, stopLoop: stopLoop, loopDone: make(chan struct{}),
		baseCtx: baseCtx, abort: abort, ended: make(chan struct{})}, nil
}

func withDefaults(o Options, timeout time.Duration) Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 32
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.Hold <= 0 {
		o.Hold = timeout + 30*time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// decodeSecrets reads a comma-separated list of secrets, each trimmed of
// spaces. Errors name the secret by its place in the list, never its text.
func decodeSecrets(list string) ([][]byte, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New("webhook signing secret is empty: set CODECHECK_WEBHOOK_SECRET")
	}
	parts := strings.Split(list, ",")
	keys := make([][]byte, 0, len(parts))
	for i, part := range parts {
		key, err := decodeSecret(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("CODECHECK_WEBHOOK_SECRET: secret %d of %d: %w", i+1, len(parts), err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

func decodeSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("empty (two commas in a row, or one at an end?)")
	}
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) == 0 {
			return nil, errors.New("the whsec_ form must be followed by base64")
		}
		return key, nil
	}
	return []byte(secret), nil
}

// errClosed is returned by Flush after Close.
var errClosed = errors.New("webhook: sender closed")

// Start starts delivering in the background and returns at once. It does
// nothing after Close or a second time.
func (s *Sender) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	go s.run(s.loopCtx)
}

// Wake makes the sender look at the outbox now rather than at its next
// poll. It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// JobDone wakes the sender when job has a webhook: the store has just
// recorded its delivery. Its signature is that of app.Hooks.JobDone, so
// the composition root wires it with app.Hooks{JobDone: sender.JobDone}
// (adapters other than the HTTP one must not import package app).
func (s *Sender) JobDone(_ context.Context, job domain.Job) {
	if job.WebhookURL != "" {
		s.Wake()
	}
}

// run takes and sends due deliveries until ctx is done. After each pass it
// waits for a wake-up, a change in the store (at most once per changeGap),
// a slot to free when the pass filled every slot, the earliest retry it
// scheduled, or the poll interval.
func (s *Sender) run(ctx context.Context) {
	defer close(s.loopDone)
	changes, err := s.changes.WatchState(ctx, "")
	if err != nil {
		s.log.Warn("webhooks: no change feed, polling only", "every", s.opts.PollInterval, "err", err)
	}
	timer := time.NewTimer(s.opts.PollInterval)
	defer timer.Stop()
	for {
		ended := s.endedSignal()
		taken, asked, err := s.pass(ctx, "")
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("webhooks: cannot read the outbox", "retry_in", s.opts.PollInterval, "err", err)
		}
		full := err == nil && taken == asked // every free slot used: more may be due
		last, changed := s.opts.Now(), false
		for waiting := true; waiting; {
			timer.Reset(s.untilNextPass(last, changed, err != nil))
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				waiting = false
			case <-timer.C:
				waiting = false
			case <-ended:
				// A delivery ended: a slot is free, and its retry time
				// may be the next deadline.
				waiting, ended = !full, s.endedSignal()
			case _, ok := <-changes:
				if !ok {
					changes = nil
				}
				changed = ok
			}
		}
	}
}

// untilNextPass is how long the loop waits, since its last pass at last,
// before the next one.
func (s *Sender) untilNextPass(last time.Time, changed, failed bool) time.Duration {
	next := last.Add(s.opts.PollInterval)
	if !failed {
		s.mu.Lock()
		if due := s.nextDue; !due.IsZero() && due.Before(next) {
			next = due
		}
		s.mu.Unlock()
		if soon := last.Add(s.changeGap); changed && soon.Before(next) {
			next = soon
		}
	}
	return max(next.Sub(s.opts.Now()), 0)
}

// pass takes as many due deliveries as there are free slots (asked) and
// starts sending them; taken is how many it got.
func (s *Sender) pass(ctx context.Context, jobID string) (taken, asked int, err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, 0, errClosed
	}
	asked = s.opts.MaxInFlight - s.inFlight
	s.inFlight += asked // reserved, so that concurrent passes never exceed the bound
	if !s.nextDue.IsZero() && !s.nextDue.After(s.opts.Now()) {
		s.nextDue = time.Time{} // this pass takes it
	}
	s.wg.Add(1) // Close waits for a pass that has already begun
	s.mu.Unlock()
	defer s.wg.Done()
	var ds []ports.WebhookDelivery
	if asked > 0 {
		ds, err = s.outbox.TakeWebhooks(ctx, ports.TakeWebhooks{JobID: jobID, Limit: asked, Hold: s.opts.Hold})
	}
	s.mu.Lock()
	s.inFlight -= asked - len(ds)
	s.wg.Add(len(ds))
	s.mu.Unlock()
	for _, d := range ds {
		go s.deliver(d)
	}
	return len(ds), asked, err
}

// endedSignal returns a channel closed when the next delivery ends.
func (s *Sender) endedSignal() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// release frees the slot of a delivery that ended, notes its retry time
// (zero: none) and tells the waiters.
func (s *Sender) release(retryAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	if !retryAt.IsZero() && (s.nextDue.IsZero() || retryAt.Before(s.nextDue)) {
		s.nextDue = retryAt
	}
	close(s.ended)
	s.ended = make(chan struct{})
	s.wg.Done()
}

// Flush makes now the deliveries of jobID (every job's, when empty) that
// are due, in this process and until none is due or ctx is done;
// deliveries already in flight are waited for. A short-lived process
// (codecheck work) calls it with its job before exiting, so that the
// webhook of the job it just ended goes out with it, and only that one. A delivery that
// fails is not waited for: its retry stays in the store, and a serve or
// worker process on the same database makes it when it is due. Flush
// returns ctx's error if ctx ends first.
func (s *Sender) Flush(ctx context.Context, jobID string) error {
	for {
		ended := s.endedSignal()
		taken, asked, err := s.pass(ctx, jobID)
		if err != nil {
			return err
		}
		if asked > 0 && taken == 0 && s.idle() {
			return nil
		}
		select {
		case <-ended:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Sender) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight == 0
}

// Close stops taking deliveries, lets requests in flight finish until ctx
// is done (then cancels them, giving their deliveries back to the outbox
// due at once), and waits for every goroutine of the Sender to return.
// Deliveries not yet taken stay due in the store.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	started := s.started
	s.mu.Unlock()
	s.stopLoop()
	if started {
		<-s.loopDone
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	defer s.abort()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.abort()
		<-done
		return ctx.Err()
	}
}
