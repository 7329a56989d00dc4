// Package apiclient is the command line's client of codecheck's public HTTP
// API (the /jobs operations), for list, watch, cancel, retry and report: a
// thin layer over the client generated from the spec (package gen), which
// makes the calls and decodes the answers. It adds what the command line
// needs on top: the bearer key, problem documents as errors that map to the
// domain's (errors.Is(err, domain.ErrNotFound)), an unreachable server told
// apart, and Follow, which reads and resumes the event stream. It imports
// no other adapter, and the command line chooses what it talks to (a remote
// server, or the API served in-process over the local store).
package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/codecheck/codecheck/adapters/apiclient/gen"
	"github.com/codecheck/codecheck/domain"
)

// ErrUnreachable wraps failures to reach the server at all (refused,
// unresolvable, timed out before an answer).
var ErrUnreachable = errors.New("server unreachable")

// Client calls the API at one base URL. It is safe for concurrent use.
type Client struct {
	base string
	key  string
	http *http.Client
	api  *gen.ClientWithResponses
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends key as the bearer token of every request.
func WithAPIKey(key string) Option { return func(c *Client) { c.key = key } }

// WithHTTPClient sends requests with hc (default: http.DefaultClient, with
// no overall timeout, since event streams are long).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// New returns a client of the API at base, an http or https URL.
func New(base string, opts ...Option) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("must be an http or https URL, got %q", base)
	}
	c := &Client{base: strings.TrimRight(base, "/"), http: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	c.api, err = gen.NewClientWithResponses(c.base, gen.WithHTTPClient(c.http), gen.WithRequestEditorFn(c.authorize))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// authorize adds the bearer key, when there is one.
func (c *Client) authorize(_ context.Context, req *http.Request) error {
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	return nil
}

// Base is the URL the client calls.
func (c *Client) Base() string { return c.base }

// Problem is an error answer of the API: its RFC 9457 problem document, as
// the generated client types it. Status is the answer's HTTP status.
type Problem struct {
	gen.Problem
}

func (p *Problem) Error() string {
	msg := p.Title
	if d := deref(p.Detail); d != "" && d != p.Title {
		msg += ": " + d
	}
	if p.Errors != nil {
		for _, e := range *p.Errors {
			msg += "; " + strings.TrimSpace(deref(e.Location)+" "+deref(e.Message))
		}
	}
	return fmt.Sprintf("HTTP %d %s", p.Status, msg)
}

// Unwrap maps the status to the domain's errors: 404 ErrNotFound, 409
// ErrConflict, 401 ErrUnauthenticated, 403 ErrForbidden, 400 and 422
// ErrInvalid.
func (p *Problem) Unwrap() error {
	switch p.Status {
	case http.StatusNotFound:
		return domain.ErrNotFound
	case http.StatusConflict:
		return domain.ErrConflict
	case http.StatusUnauthorized:
		return domain.ErrUnauthenticated
	case http.StatusForbidden:
		return domain.ErrForbidden
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		return domain.ErrInvalid
	}
	return nil
}

// transportError wraps err when the server could not be reached.
func (c *Client) transportError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %s %s: %w", ErrUnreachable, what, c.base, ue.Err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// problemOf returns the *Problem of an answer that is not 2xx (nil for a
// 2xx), decoded from its body whatever its Content-Type says; an answer
// that is no problem document (a proxy's page, say) becomes one with the
// status's text as its title.
func problemOf(status int, body []byte) error {
	if status/100 == 2 {
		return nil
	}
	p := &Problem{}
	if json.Unmarshal(body, &p.Problem) != nil || p.Title == "" {
		detail := strings.TrimSpace(string(body))
		p.Problem = gen.Problem{Title: http.StatusText(status), Detail: &detail}
	}
	p.Status = int64(status)
	return p
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
