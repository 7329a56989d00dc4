// The Client: its options, and one request to the worker API with its retries.

package workerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/codecheck/codecheck/ports"
)

// Defaults of the options.
const (
	// DefaultRetryWithin bounds how long one call retries transient
	// failures: well inside the default 30s lease, so that a call that
	// gives up still leaves the worker time to act on it.
	DefaultRetryWithin = 15 * time.Second
	// DefaultWatchInterval is how long Watch lets a job go unheard of
	// before it polls the job. It is longer than the heartbeat interval of
	// the default lease (10s), so a worker whose heartbeats answer never
	// polls: a cancel reaches it as its next heartbeat or save refused.
	DefaultWatchInterval = 15 * time.Second
	// DefaultTimeout bounds one request.
	DefaultTimeout = 30 * time.Second
)

// Backoff between tries of one call: doubling from backoffBase, with
// jitter, up to backoffMax; a longer Retry-After wins.
const (
	backoffBase = 100 * time.Millisecond
	backoffMax  = 2 * time.Second
)

// maxAnswer bounds the answer read from the API.
const maxAnswer = 16 << 20

// Client is the worker's store over the worker API. It is safe for
// concurrent use.
type Client struct {
	base        string
	token       func(jobID string) (string, error)
	http        *http.Client
	retryWithin time.Duration
	watchEvery  time.Duration

	mu   sync.Mutex
	jobs map[string]*jobState // what Watch needs to know of each job
}

var (
	_ ports.WorkerStore = (*Client)(nil)
	_ ports.Changes     = (*Client)(nil)
)

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests with hc (default: a client with
// DefaultTimeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithRetryWithin bounds how long one call retries transient failures
// (default DefaultRetryWithin); 0 tries once.
func WithRetryWithin(d time.Duration) Option { return func(c *Client) { c.retryWithin = d } }

// WithWatchInterval sets how long a watched job may go unheard of before
// Watch polls it (default DefaultWatchInterval); 0 never polls, leaving
// Watch to the answers of the worker's own calls.
func WithWatchInterval(d time.Duration) Option { return func(c *Client) { c.watchEvery = d } }

// New returns a Client for the API at baseURL (the server's root, e.g.
// "https://codecheck.example.com"). token returns the worker token for a
// job: in a container, the one token it was handed (CODECHECK_WORKER_TOKEN).
func New(baseURL string, token func(jobID string) (string, error), opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("workerapi.New: the API URL must be an absolute http(s) URL, got %q", baseURL)
	}
	if token == nil {
		return nil, errors.New("workerapi.New: token is required")
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), token: token,
		http: &http.Client{Timeout: DefaultTimeout}, retryWithin: DefaultRetryWithin,
		watchEvery: DefaultWatchInterval, jobs: map[string]*jobState{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// StaticToken is the token func of a worker handed one token.
func StaticToken(token string) func(string) (string, error) {
	return func(string) (string, error) { return token, nil }
}

// request is one call of the API.
type request struct {
	op     string // for errors, e.g. "save section zoning_use"
	method string
	jobID  string
	path   string // below /worker/jobs/{id}
	in     any
	out    any
	// retried is set when a try failed transiently before the last one:
	// the server may have done the work of a try whose answer was lost.
	retried bool
	// unfenced marks a request whose answer says nothing of the job (the
	// provider budget's): it does not count as hearing of it, so Watch
	// still polls.
	unfenced bool
}

// do sends r, retrying transient failures with backoff within
// retryWithin, and decodes a success into r.out. Every answer from the
// server counts as hearing of the job; a lost lease wakes its watchers.
func (c *Client) do(ctx context.Context, r *request) error {
	var body []byte
	if r.in != nil {
		var err error
		if body, err = json.Marshal(r.in); err != nil {
			return fmt.Errorf("worker API %s: %w", r.op, err)
		}
	}
	token, err := c.token(r.jobID)
	if err != nil {
		return fmt.Errorf("worker API %s: worker token: %w", r.op, err)
	}
	giveUp := time.Now().Add(c.retryWithin)
	for try := 1; ; try++ {
		status, answer, retryAfter, err := c.send(ctx, r, token, body)
		if err == nil && !transient(status) {
			return c.answered(r, status, answer)
		}
		if err == nil {
			err = answerError(r.op, status, answer)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("worker API %s: %w", r.op, context.Cause(ctx))
		}
		wait := max(backoff(try), retryAfter)
		if time.Now().Add(wait).After(giveUp) {
			return fmt.Errorf("worker API %s: gave up after %d tries: %w", r.op, try, err)
		}
		r.retried = true
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("worker API %s: %w", r.op, err)
		}
	}
}

// answered handles a final answer.
func (c *Client) answered(r *request, status int, answer []byte) error {
	if status >= 300 {
		err := answerError(r.op, status, answer)
		if isLeaseLost(err) {
			c.wake(r.jobID)
		} else if !r.unfenced {
			c.heard(r.jobID)
		}
		return err
	}
	if !r.unfenced {
		c.heard(r.jobID)
	}
	if r.out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, r.out); err != nil {
		return fmt.Errorf("worker API %s: unreadable answer: %w", r.op, err)
	}
	return nil
}

// send makes one try. An error is a failure to get an answer (always
// transient); otherwise it returns the answer's status, body and
// Retry-After.
func (c *Client) send(ctx context.Context, r *request, token string, body []byte) (int, []byte, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+"/worker/jobs/"+url.PathEscape(r.jobID)+r.path, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return 0, nil, 0, fmt.Errorf("reading the answer: %w", err)
	}
	return res.StatusCode, answer, retryAfter(res.Header.Get("Retry-After")), nil
}

// transient reports whether an answer is worth another try: the server or
// a proxy in front of it could not take the request just now.
func transient(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// backoff is the wait before try+1: doubling, with full jitter above half.
func backoff(try int) time.Duration {
	d := min(backoffBase<<min(try-1, 8), backoffMax)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
