package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// newClock is a settable clock shared by the store and the sender, so that
// retry times are reached by advancing it, not by sleeping.
func newClock() *storetest.FakeClock {
	return storetest.NewFakeClock(time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC))
}

// openStore opens the SQLite store at path (a new file when path is "")
// reading time from clk (real time when nil), closed at the end of the test.
func openStore(t *testing.T, path string, clk *storetest.FakeClock) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "codecheck.db")
	}
	var opts []sqlite.Option
	if clk != nil {
		opts = append(opts, sqlite.WithClock(clk.Now))
	}
	s, err := sqlite.Open(context.Background(), path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// endJob creates a job with webhookURL and moves it to status (completed,
// failed or canceled), which makes the store owe its webhook.
func endJob(t *testing.T, s *sqlite.Store, webhookURL string, status domain.JobStatus) domain.Job {
	t.Helper()
	ctx := context.Background()
	job, _, err := s.Create(ctx, domain.Job{ID: uuid.Must(uuid.NewV7()).String(), Address: "1 Main St, Springfield, IL",
		Provider: "fake", Sections: domain.SectionKeys(), WebhookURL: webhookURL})
	require.NoError(t, err)
	if status == domain.JobCanceled {
		job, err = s.Cancel(ctx, job.ID)
		require.NoError(t, err)
		return job
	}
	job, err = s.Claim(ctx, ports.ClaimRequest{JobID: job.ID, Worker: "test", Lease: time.Hour})
	require.NoError(t, err)
	job, err = s.Finish(ctx, ports.Lease{JobID: job.ID, Attempt: job.Attempt}, status, "")
	require.NoError(t, err)
	return job
}

type received struct {
	header  http.Header
	body    []byte
	arrived time.Time
}

// receiver is a webhook endpoint that records every request; respond
// answers the n-th one (1-based), 204 when nil.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.Header.Clone(), body, time.Now()})
		n := len(rc.got)
		rc.mu.Unlock()
		if rc.respond == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rc.respond(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) calls() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// failFirst answers 503 (with a Retry-After when retryAfter is not empty)
// to the first n requests and 204 after.
func failFirst(n int, retryAfter string) func(int, http.ResponseWriter, *http.Request) {
	return func(call int, w http.ResponseWriter, _ *http.Request) {
		if call > n {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

const secret = "a-raw-signing-secret"

// newSender returns a Sender on store with opts (quiet, and on clk when
// not nil), closed at the end of the test. It is not started.
func newSender(t *testing.T, store *sqlite.Store, client *http.Client, clk *storetest.FakeClock, opts Options) *Sender {
	t.Helper()
	opts.Logger = quiet
	if clk != nil {
		opts.Now = clk.Now
	}
	s, err := New(secret, client, store, store, store, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Close(ctx))
	})
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, what)
}

func flush(t *testing.T, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Flush(ctx, ""))
}

// requireSigned checks r's signature against key, computed independently
// of Sign, and returns its webhook-id.
func requireSigned(t *testing.T, key []byte, r received) string {
	t.Helper()
	id, ts := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
	require.NotEmpty(t, id)
	_, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(r.body)))
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), r.header.Get("webhook-signature"))
	return id
}

type sentPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Progress string `json:"progress"`
		Attempt  int    `json:"attempt"`
	} `json:"data"`
}

func payloadOf(t *testing.T, r received) sentPayload {
	t.Helper()
	var p sentPayload
	require.NoError(t, json.Unmarshal(r.body, &p), string(r.body))
	return p
}

// A job that ends is delivered once, signed, soon after the hook wakes the
// sender (its poll is an hour away), and the store records it delivered.
func TestSenderDeliversOnceSigned(t *testing.T) {
	clk := newClock()
	store := openStore(t, "", clk)
	rc := newReceiver(t, nil)
	key := []byte("a-32-byte-signing-key-for-tests!")
	s, err := New("whsec_"+base64.StdEncoding.EncodeToString(key), rc.Client(), store, store, store,
		Options{Logger: quiet, Now: clk.Now, PollInterval: time.Hour})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(context.Background())) }()
	s.Start()
	hooks := app.Hooks{JobDone: s.JobDone} // how the composition root wires it

	job := endJob(t, store, rc.URL+"/hook", domain.JobCompleted)
	hooks.JobDone(context.Background(), job)
	waitFor(t, "the delivery", func() bool { return len(rc.calls()) == 1 })

	r := rc.calls()[0]
	require.Equal(t, "msg_"+job.ID+"_1_completed", requireSigned(t, key, r))
	require.Equal(t, strconv.FormatInt(clk.Now().Unix(), 10), r.header.Get("webhook-timestamp"))
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	p := payloadOf(t, r)
	require.Equal(t, "job.completed", p.Type)
	require.Equal(t, job.ID, p.Data.ID)
	require.Equal(t, "completed", p.Data.Status)
	require.Equal(t, "0/13", p.Data.Progress)

	flush(t, s)                 // waits for the delivery in flight to be recorded
	clk.Advance(24 * time.Hour) // far past any hold: only a recorded delivery stays quiet
	flush(t, s)
	require.Len(t, rc.calls(), 1)
	left, err := store.TakeWebhooks(context.Background(), ports.TakeWebhooks{Limit: 10, Hold: time.Minute})
	require.NoError(t, err)
	require.Empty(t, left, "recorded as delivered")
}

func TestSenderRawSecret(t *testing.T) {
	store := openStore(t, "", nil)
	rc := newReceiver(t, nil)
	s := newSender(t, store, rc.Client(), nil, Options{})
	endJob(t, store, rc.URL, domain.JobCanceled)
	flush(t, s)
	require.Len(t, rc.calls(), 1)
	r := rc.calls()[0]
	want := Sign([]byte(secret), r.header.Get("webhook-id"), r.header.Get("webhook-timestamp"), r.body)
	require.Equal(t, "v1,"+want, r.header.Get("webhook-signature"))
	require.Equal(t, "job.canceled", payloadOf(t, r).Type)
}

// A failing receiver is tried again after the backoff (10s, then 20s, each
// +-20%), never before, with the same message id.
func TestSenderRetriesWithBackoff(t *testing.T) {
	clk := newClock()
	store := openStore(t, "", clk)
	rc := newReceiver(t, failFirst(2, ""))
	s := newSender(t, store, rc.Client(), clk, Options{InitialBackoff: 10 * time.Second, MaxBackoff: time.Minute})
	endJob(t, store, rc.URL, domain.JobFailed)

	steps := []struct {
		advance time.Duration
		calls   int
	}{
		{0, 1},
		{7900 * time.Millisecond, 1}, // under 10s - 20%
		{4200 * time.Millisecond, 2}, // past 10s + 20%
		{15900 * time.Millisecond, 2},
		{8200 * time.Millisecond, 3}, // delivered
		{time.Hour, 3},
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		flush(t, s)
		require.Len(t, rc.calls(), st.calls, "step %d", i)
	}
	calls := rc.calls()
	for _, c := range calls {
		require.Equal(t, requireSigned(t, []byte(secret), calls[0]), requireSigned(t, []byte(secret), c))
		require.Equal(t, "job.failed", payloadOf(t, c).Type)
	}
}

// A running sender makes its own retries when they are due, without
// waiting for its poll, and never before their backoff.
func TestSenderRetriesOnItsOwn(t *testing.T) {
	store := openStore(t, "", nil)
	rc := newReceiver(t, failFirst(2, ""))
	s := newSender(t, store, rc.Client(), nil, Options{InitialBackoff: 50 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, PollInterval: time.Hour})
	s.Start()
	endJob(t, store, rc.URL, domain.JobCompleted)
	s.Wake()
	waitFor(t, "two retries", func() bool { return len(rc.calls()) == 3 })
	calls := rc.calls()
	require.GreaterOrEqual(t, calls[1].arrived.Sub(calls[0].arrived), 40*time.Millisecond)
	require.GreaterOrEqual(t, calls[2].arrived.Sub(calls[1].arrived), 80*time.Millisecond)
}

// The receiver's Retry-After, in seconds or as a date, wins over a shorter
// backoff.
func TestSenderHonoursRetryAfter(t *testing.T) {
	for name, header := range map[string]func(time.Time) string{
		"seconds": func(time.Time) string { return "120" },
		"date":    func(now time.Time) string { return now.Add(120 * time.Second).Format(http.TimeFormat) },
	} {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			store := openStore(t, "", clk)
			rc := newReceiver(t, failFirst(1, header(clk.Now())))
			s := newSender(t, store, rc.Client(), clk, Options{InitialBackoff: time.Second, MaxBackoff: time.Hour})
			endJob(t, store, rc.URL, domain.JobCompleted)
			flush(t, s)
			require.Len(t, rc.calls(), 1)
			clk.Advance(119 * time.Second)
			flush(t, s)
			require.Len(t, rc.calls(), 1, "not before Retry-After")
			clk.Advance(time.Second)
			flush(t, s)
			require.Len(t, rc.calls(), 2)
		})
	}
}

// After MaxAttempts failures the delivery is given up in the store: not
// offered again, to this sender or any other.
func TestSenderGivesUpAfterMaxAttempts(t *testing.T) {
	clk := newClock()
	store := openStore(t, "", clk)
	rc := newReceiver(t, failFirst(100, ""))
	s := newSender(t, store, rc.Client(), clk, Options{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Second})
	endJob(t, store, rc.URL, domain.JobCompleted)
	for range 5 {
		flush(t, s)
		clk.Advance(2 * time.Second)
	}
	require.Len(t, rc.calls(), 3)
	clk.Advance(24 * time.Hour)
	left, err := store.TakeWebhooks(context.Background(), ports.TakeWebhooks{Limit: 10, Hold: time.Minute})
	require.NoError(t, err)
	require.Empty(t, left, "given up, not merely held")
}

// A delivery waiting for its retry holds no slot: with one slot, another
// job's webhook goes out while the first waits an hour.
func TestSenderWaitingRetryHoldsNoSlot(t *testing.T) {
	store := openStore(t, "", nil)
	failing := newReceiver(t, failFirst(100, "3600"))
	ok := newReceiver(t, nil)
	// Both servers' certificates are httptest's, so one client trusts both.
	s := newSender(t, store, failing.Client(), nil, Options{MaxInFlight: 1, MaxBackoff: time.Hour, PollInterval: time.Hour})
	s.Start()
	endJob(t, store, failing.URL, domain.JobFailed)
	s.Wake()
	waitFor(t, "the failed attempt", func() bool { return len(failing.calls()) == 1 })
	endJob(t, store, ok.URL, domain.JobCompleted)
	s.Wake()
	waitFor(t, "the other job's delivery", func() bool { return len(ok.calls()) == 1 })
	require.Len(t, failing.calls(), 1)
}

// blocking answers once release is closed, never if the request is
// abandoned first, and counts the requests it holds at once.
type blocking struct {
	release chan struct{}
	mu      sync.Mutex
	now     int
	most    int
}

func (b *blocking) respond(_ int, w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.now++
	b.most = max(b.most, b.now)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.now--
		b.mu.Unlock()
	}()
	select {
	case <-b.release:
		w.WriteHeader(http.StatusNoContent)
	case <-r.Context().Done():
		panic(http.ErrAbortHandler) // no answer at all, not an implicit 200
	}
}

func (b *blocking) peak() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.most
}

// A slow receiver holds one slot: another job's delivery goes out in
// another; and no more requests than MaxInFlight run at once.
func TestSenderSlowReceiverDoesNotBlockOthers(t *testing.T) {
	store := openStore(t, "", nil)
	slow := &blocking{release: make(chan struct{})}
	slowRC := newReceiver(t, slow.respond)
	fast := newReceiver(t, nil)
	s := newSender(t, store, slowRC.Client(), nil, Options{MaxInFlight: 3, PollInterval: time.Hour})
	s.Start()
	for range 2 {
		endJob(t, store, slowRC.URL, domain.JobCompleted)
	}
	s.Wake()
	waitFor(t, "two slow requests", func() bool { return len(slowRC.calls()) == 2 })
	endJob(t, store, fast.URL, domain.JobCompleted)
	s.Wake()
	waitFor(t, "the fast delivery", func() bool { return len(fast.calls()) == 1 })

	for range 3 {
		endJob(t, store, slowRC.URL, domain.JobCompleted)
	}
	s.Wake()
	waitFor(t, "a third slow request in the freed slot", func() bool { return len(slowRC.calls()) == 3 })
	close(slow.release)
	waitFor(t, "every slow delivery", func() bool { return len(slowRC.calls()) == 5 })
	require.Equal(t, 3, slow.peak(), "at most MaxInFlight requests at once")
}

// Close returns promptly: the request in flight is abandoned when Close's
// context ends and its delivery given back, due at once; deliveries never
// taken stay due in the store.
func TestSenderCloseLeavesDeliveriesDue(t *testing.T) {
	store := openStore(t, "", nil)
	hang := &blocking{release: make(chan struct{})}
	rc := newReceiver(t, hang.respond)
	s, err := New(secret, rc.Client(), store, store, store, Options{Logger: quiet, MaxInFlight: 1, PollInterval: time.Hour})
	require.NoError(t, err)
	s.Start()
	for range 3 {
		endJob(t, store, rc.URL, domain.JobCompleted)
	}
	s.Wake()
	waitFor(t, "the first request", func() bool { return len(rc.calls()) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.ErrorIs(t, s.Close(ctx), context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)

	due, err := store.TakeWebhooks(context.Background(), ports.TakeWebhooks{Limit: 10, Hold: time.Minute})
	require.NoError(t, err)
	require.Len(t, due, 3, "all three still owed and due")
	attempts := 0
	for _, d := range due {
		attempts += d.Attempt
	}
	require.Equal(t, 1+1+2, attempts, "the abandoned one counts its attempt")
	require.ErrorIs(t, s.Flush(context.Background(), ""), errClosed)
}

// The restart case, in process: what a sender left behind (a retry it
// scheduled, a delivery it took and never reported because it died) is
// made by a new sender on the same database.
func TestNewSenderMakesWhatTheOldOneLeft(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "codecheck.db")
	rc := newReceiver(t, failFirst(1, ""))
	first, err := sqlite.Open(context.Background(), path, sqlite.WithClock(clk.Now))
	require.NoError(t, err)
	old, err := New(secret, rc.Client(), first, first, first, Options{Logger: quiet, Now: clk.Now})
	require.NoError(t, err)
	retried := endJob(t, first, rc.URL, domain.JobCompleted)
	require.NoError(t, old.Flush(context.Background(), ""))
	require.Len(t, rc.calls(), 1, "failed, retry scheduled")
	require.NoError(t, old.Close(context.Background()))

	crashed := endJob(t, first, rc.URL, domain.JobFailed)
	taken, err := first.TakeWebhooks(context.Background(), ports.TakeWebhooks{JobID: crashed.ID, Limit: 1, Hold: time.Minute})
	require.NoError(t, err)
	require.Len(t, taken, 1) // and its taker dies before the request
	require.NoError(t, first.Close())

	clk.Advance(2 * time.Minute) // past the retry and the hold
	second := openStore(t, path, clk)
	s := newSender(t, second, rc.Client(), clk, Options{PollInterval: time.Hour})
	s.Start()
	waitFor(t, "both deliveries", func() bool { return len(rc.calls()) == 3 })
	ids := map[string]int{}
	for _, c := range rc.calls() {
		ids[requireSigned(t, []byte(secret), c)]++
	}
	require.Equal(t, map[string]int{"msg_" + retried.ID + "_1_completed": 2, "msg_" + crashed.ID + "_1_failed": 1}, ids)
}

// A job that ends where no hook reaches this sender (another process) is
// delivered on the store's change feed, long before the poll.
func TestSenderWakesOnStoreChanges(t *testing.T) {
	store := openStore(t, "", nil)
	rc := newReceiver(t, nil)
	s := newSender(t, store, rc.Client(), nil, Options{PollInterval: time.Hour})
	s.changeGap = 10 * time.Millisecond
	endJob(t, store, rc.URL, domain.JobCompleted)
	s.Start()
	waitFor(t, "the delivery owed before the start", func() bool { return len(rc.calls()) == 1 })
	endJob(t, store, rc.URL, domain.JobCanceled) // no Wake
	waitFor(t, "the delivery of a job ended afterwards", func() bool { return len(rc.calls()) == 2 })
}

// A failed job retried since its failure still gets its job.failed message,
// with the job as it is now.
func TestSenderNamesTheStatusTheDeliveryIsFor(t *testing.T) {
	store := openStore(t, "", nil)
	rc := newReceiver(t, nil)
	s := newSender(t, store, rc.Client(), nil, Options{})
	job := endJob(t, store, rc.URL, domain.JobFailed)
	_, err := store.Retry(context.Background(), job.ID, domain.RetryOptions{})
	require.NoError(t, err)
	flush(t, s)
	require.Len(t, rc.calls(), 1)
	p := payloadOf(t, rc.calls()[0])
	require.Equal(t, "job.failed", p.Type)
	require.Equal(t, "pending", p.Data.Status)
}

// Flush waits for what it sends, and gives up at its deadline.
func TestSenderFlushStopsAtItsDeadline(t *testing.T) {
	store := openStore(t, "", nil)
	hang := &blocking{release: make(chan struct{})}
	rc := newReceiver(t, hang.respond)
	s := newSender(t, store, rc.Client(), nil, Options{})
	endJob(t, store, rc.URL, domain.JobCompleted)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Flush(ctx, ""), context.DeadlineExceeded)
	close(hang.release)
	flush(t, s) // waits for the request in flight
	require.Len(t, rc.calls(), 1)
	left, err := store.TakeWebhooks(context.Background(), ports.TakeWebhooks{Limit: 10, Hold: time.Minute})
	require.NoError(t, err)
	require.Empty(t, left)
}

// The default client refuses loopback targets at dial time; with one
// attempt allowed the delivery is given up.
func TestSenderDefaultClientRefusesLoopback(t *testing.T) {
	store := openStore(t, "", nil)
	rc := newReceiver(t, nil)
	s := newSender(t, store, nil, nil, Options{MaxAttempts: 1})
	endJob(t, store, rc.URL, domain.JobCompleted)
	flush(t, s)
	require.Empty(t, rc.calls())
	left, err := store.TakeWebhooks(context.Background(), ports.TakeWebhooks{Limit: 10, Hold: time.Minute})
	require.NoError(t, err)
	require.Empty(t, left)
}

func TestNewRefusesBadSettings(t *testing.T) {
	store := openStore(t, "", nil)
	_, err := New("", nil, store, store, store, Options{Logger: quiet})
	require.ErrorContains(t, err, "CODECHECK_WEBHOOK_SECRET")
	_, err = New("whsec_not base64!", nil, store, store, store, Options{Logger: quiet})
	require.ErrorContains(t, err, "CODECHECK_WEBHOOK_SECRET")
	require.False(t, errors.Is(err, domain.ErrInvalid))
	_, err = New(secret, nil, nil, store, store, Options{Logger: quiet})
	require.ErrorContains(t, err, "outbox")
	_, err = New(secret, NewHTTPClient(false, 10*time.Second), store, store, store, Options{Logger: quiet, Hold: 5 * time.Second})
	require.ErrorContains(t, err, "hold")
}
