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
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

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

// writeTimeout bounds recording an outcome in the store; it does not
// depend on the request's context, which Close may have canceled.
const writeTimeout = 10 * time.Second

// errGiveUp marks failures that no retry can mend.
var errGiveUp = errors.New("cannot be delivered")

// deliver makes one attempt at d in its own goroutine, holding a slot only
// while it runs, and records the outcome.
func (s *Sender) deliver(d ports.WebhookDelivery) {
	log := s.log.With("job_id", d.JobID, "webhook_id", d.ID, "try", d.Attempt)
	var retryAfter time.Duration
	u, err := parseWebhookURL(d.URL)
	if err != nil {
		err = fmt.Errorf("%w: %v", errGiveUp, err)
	} else {
		log = log.With("webhook_host", u.Host)
		retryAfter, err = s.send(d)
	}
	s.release(s.settle(log, d, retryAfter, err))
}

// send reads the job and POSTs it, signed, to the delivery's URL. It
// returns the receiver's Retry-After, if any, with the error.
func (s *Sender) send(d ports.WebhookDelivery) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(s.baseCtx, s.timeout)
	defer cancel()
	job, err := s.jobs.Get(ctx, d.JobID)
	if errors.Is(err, domain.ErrNotFound) {
		return 0, fmt.Errorf("%w: job not found", errGiveUp)
	} else if err != nil {
		return 0, err
	}
	body, err := json.Marshal(Payload{Type: "job." + string(eventStatus(d, job)), Timestamp: s.opts.Now().UTC(),
		Data: PayloadJob{Job: job, Progress: job.Progress()}})
	if err != nil {
		return 0, fmt.Errorf("%w: payload: %v", errGiveUp, err)
	}
	return s.post(ctx, d, body)
}

// eventStatus is the terminal status the delivery was owed for. The store
// names it last in the message id (msg_<job>_<attempt>_<status>); the job
// may have moved on since (a failed job retried), and its message must
// still say what happened then. The job's status serves if the id says
// nothing.
func eventStatus(d ports.WebhookDelivery, job domain.Job) domain.JobStatus {
	if i := strings.LastIndexByte(d.ID, '_'); i >= 0 {
		if st := domain.JobStatus(d.ID[i+1:]); st.Terminal() {
			return st
		}
	}
	return job.Status
}

// post makes one signed POST of body.
func (s *Sender) post(ctx context.Context, d ports.WebhookDelivery, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errGiveUp, err)
	}
	ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "codecheck-webhook/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", s.signatures(d.ID, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, withoutURL(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	return s.retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("HTTP %d", resp.StatusCode)
}

// withoutURL drops the request URL from a client error: a webhook URL may
// carry a token in its path or query, and errors are logged and stored.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// signatures is the webhook-signature header: "v1,<signature>" under each
// key, separated by spaces, as Standard Webhooks sends several.
func (s *Sender) signatures(msgID, timestamp string, body []byte) string {
	sigs := make([]string, len(s.keys))
	for i, key := range s.keys {
		sigs[i] = "v1," + Sign(key, msgID, timestamp, body)
	}
	return strings.Join(sigs, " ")
}

// Sign returns the base64 HMAC-SHA256 of "id.timestamp.body" under key, as
// Standard Webhooks defines it (without the "v1," prefix).
func Sign(key []byte, msgID, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + timestamp + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// settle records the outcome of an attempt, then logs it, and returns when
// the delivery is due again (zero: not by this process's doing).
func (s *Sender) settle(log *slog.Logger, d ports.WebhookDelivery, retryAfter time.Duration, sendErr error) time.Time {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var (
		retryAt time.Time
		err     error
		level   = slog.LevelInfo
		msg     string
		attrs   []any
	)
	if sendErr != nil {
		attrs = append(attrs, "err", sendErr)
	}
	switch {
	case sendErr == nil:
		msg = "webhook delivered"
		err = s.outbox.WebhookDelivered(ctx, d.ID)
	case s.baseCtx.Err() != nil:
		msg = "webhook attempt cut short by shutdown; due again at once"
		retryAt = s.opts.Now()
		err = s.outbox.WebhookFailed(ctx, d.ID, "sender closed during the request", retryAt)
	case errors.Is(sendErr, errGiveUp), d.Attempt >= s.opts.MaxAttempts:
		level, msg = slog.LevelWarn, "webhook delivery gave up"
		err = s.outbox.WebhookFailed(ctx, d.ID, sendErr.Error(), time.Time{})
	default:
		wait := max(s.backoff(d.Attempt), retryAfter)
		retryAt = s.opts.Now().Add(wait)
		msg, attrs = "webhook delivery failed, will retry", append(attrs, "in", wait)
		err = s.outbox.WebhookFailed(ctx, d.ID, sendErr.Error(), retryAt)
	}
	if err != nil {
		// The hold keeps it from others until it ends; then it is due again.
		log.Error("webhook outcome not recorded; due again when its hold ends", "outcome", msg, "hold", s.opts.Hold, "err", err)
		return time.Time{}
	}
	log.Log(ctx, level, msg, attrs...)
	return retryAt
}

// backoff is the wait after the n-th failed attempt.
func (s *Sender) backoff(n int) time.Duration {
	d := s.opts.InitialBackoff << min(max(n-1, 0), 30)
	if d <= 0 || d > s.opts.MaxBackoff {
		d = s.opts.MaxBackoff
	}
	// +-20% jitter so that many failed deliveries do not retry in lockstep.
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) * 2
	return d - d/5 + jitter
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date,
// capped at MaxBackoff; 0 when absent or unreadable.
func (s *Sender) retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(s.opts.Now())
	}
	return min(max(d, 0), s.opts.MaxBackoff)
}
