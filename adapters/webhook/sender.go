package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// Options tune a Sender. Zero values pick the defaults.
type Options struct {
	Logger *slog.Logger
	// MaxAttempts is the number of delivery attempts per event (default 6).
	MaxAttempts int
	// InitialBackoff is the wait after the first failure (default 1s); it
	// doubles after each further failure, with jitter, up to MaxBackoff
	// (default 5m).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxInFlight bounds concurrent deliveries (default 32).
	MaxInFlight int
	// Now is the clock used for webhook-timestamp (default time.Now).
	Now func() time.Time
}

// Sender POSTs finished jobs to their webhook_url. Deliveries run in
// goroutines that Close stops.
type Sender struct {
	key    []byte
	client *http.Client
	opts   Options
	log    *slog.Logger

	sem     chan struct{}
	stop    chan struct{} // closed by Close: no new deliveries, no more retries
	baseCtx context.Context
	abort   context.CancelFunc // cancels in-flight requests when Close times out

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New returns a Sender signing with secret, given either as "whsec_<base64>"
// (the Standard Webhooks form) or as raw text. client nil builds one with
// NewHTTPClient(false, 10s): deliveries then refuse non-public addresses at
// dial time. Pass NewHTTPClient(true, ...) to allow private targets.
func New(secret string, client *http.Client, opts Options) (*Sender, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = NewHTTPClient(false, 10*time.Second)
	}
	opts = withDefaults(opts)
	ctx, cancel := context.WithCancel(context.Background())
	return &Sender{key: key, client: client, opts: opts, log: opts.Logger,
		sem: make(chan struct{}, opts.MaxInFlight), stop: make(chan struct{}),
		baseCtx: ctx, abort: cancel}, nil
}

func withDefaults(o Options) Options {
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
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func decodeSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("webhook signing secret is empty: set CODECHECK_WEBHOOK_SECRET")
	}
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) == 0 {
			return nil, errors.New("CODECHECK_WEBHOOK_SECRET: the whsec_ form must be followed by base64")
		}
		return key, nil
	}
	return []byte(secret), nil
}

// JobDone delivers job if it has a webhook_url. Its signature is that of
// app.Hooks.JobDone, so the composition root wires it with
// app.Hooks{JobDone: sender.JobDone} (adapters other than the HTTP one must
// not import package app).
func (s *Sender) JobDone(_ context.Context, job domain.Job) {
	if job.WebhookURL != "" {
		s.Deliver(job)
	}
}

// Payload is the body of a webhook request.
type Payload struct {
	Type      string     `json:"type"` // "job.completed", "job.failed", "job.canceled"
	Timestamp time.Time  `json:"timestamp"`
	Data      PayloadJob `json:"data"`
}

// PayloadJob is the job as sent in a webhook.
type PayloadJob struct {
	domain.Job
	Progress string `json:"progress"`
}

// Deliver queues job for delivery to its webhook_url and returns at once.
// After Close it does nothing.
func (s *Sender) Deliver(job domain.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.log.Warn("webhook not sent: sender closed", "job_id", job.ID)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.deliver(job)
	}()
}

func (s *Sender) deliver(job domain.Job) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-s.stop:
		return
	}
	log := s.log.With("job_id", job.ID, "attempt", job.Attempt, "status", job.Status)
	u, err := parseWebhookURL(job.WebhookURL)
	if err != nil {
		log.Warn("webhook not sent", "err", err)
		return
	}
	log = log.With("webhook_host", u.Host)
	body, err := json.Marshal(Payload{Type: "job." + string(job.Status), Timestamp: s.opts.Now().UTC(),
		Data: PayloadJob{Job: job, Progress: job.Progress()}})
	if err != nil {
		log.Error("webhook payload", "err", err)
		return
	}
	msgID := fmt.Sprintf("msg_%s_%d_%s", job.ID, job.Attempt, job.Status)
	for n := 1; ; n++ {
		retryAfter, err := s.attempt(job.WebhookURL, msgID, body)
		if err == nil {
			log.Info("webhook delivered", "try", n)
			return
		}
		if n >= s.opts.MaxAttempts {
			log.Warn("webhook delivery gave up", "tries", n, "err", err)
			return
		}
		wait := max(s.backoff(n), retryAfter)
		log.Info("webhook delivery failed, will retry", "try", n, "in", wait, "err", err)
		if !s.sleep(wait) {
			log.Warn("webhook delivery abandoned: sender closing", "tries", n)
			return
		}
	}
}

// attempt makes one signed POST. It returns the server's Retry-After, if any,
// with the error.
func (s *Sender) attempt(url, msgID string, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(s.baseCtx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "codecheck-webhook/1")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", "v1,"+Sign(s.key, msgID, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	return parseRetryAfter(resp.Header.Get("Retry-After"), s.opts.MaxBackoff), fmt.Errorf("HTTP %d", resp.StatusCode)
}

// Sign returns the base64 HMAC-SHA256 of "id.timestamp.body" under key, as
// Standard Webhooks defines it (without the "v1," prefix).
func Sign(key []byte, msgID, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + timestamp + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Sender) backoff(n int) time.Duration {
	d := s.opts.InitialBackoff << min(n-1, 30)
	if d <= 0 || d > s.opts.MaxBackoff {
		d = s.opts.MaxBackoff
	}
	// +-20% jitter so that many failed deliveries do not retry in lockstep.
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) * 2
	return d - d/5 + jitter
}

func parseRetryAfter(v string, ceiling time.Duration) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs <= 0 {
		return 0
	}
	return min(time.Duration(secs)*time.Second, ceiling)
}

// sleep waits d or until Close; it reports whether the wait ran out.
func (s *Sender) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	}
}

// Flush waits until every delivery accepted so far, retries included, has
// ended, or ctx is done. A short-lived process (codecheck work) calls it
// before exiting so that retries are not lost with it.
func (s *Sender) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting deliveries and abandons pending retries, lets
// requests in flight finish until ctx is done (then cancels them), and waits
// for every delivery goroutine to return.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.abort()
		return nil
	case <-ctx.Done():
		s.abort()
		<-done
		return ctx.Err()
	}
}
