// Package apiclient is a small client of codecheck's public HTTP API (the
// /jobs operations), for the command line's list, watch, cancel, retry and
// report. It speaks the wire format only: it imports no other adapter, and
// the command line chooses what it talks to (a remote server, or the API
// served in-process over the local store). A client generated from the
// OpenAPI spec is meant to replace it.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/codecheck/codecheck/domain"
)

// maxAnswer bounds an answer read into memory.
const maxAnswer = 32 << 20

// ErrUnreachable wraps failures to reach the server at all (refused,
// unresolvable, timed out before an answer).
var ErrUnreachable = errors.New("server unreachable")

// Client calls the API at one base URL. It is safe for concurrent use.
type Client struct {
	base string
	key  string
	http *http.Client
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
	return c, nil
}

// Base is the URL the client calls.
func (c *Client) Base() string { return c.base }

// Problem is an error answer of the API (RFC 9457).
type Problem struct {
	Status int    `json:"status"`
	Type   string `json:"type,omitempty"`
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location,omitempty"`
	} `json:"errors,omitempty"`
}

func (p *Problem) Error() string {
	msg := p.Title
	if p.Detail != "" && p.Detail != p.Title {
		msg += ": " + p.Detail
	}
	for _, e := range p.Errors {
		msg += "; " + strings.TrimSpace(e.Location+" "+e.Message)
	}
	return fmt.Sprintf("HTTP %d %s", p.Status, msg)
}

// Unwrap maps the status to the domain's errors: 404 ErrNotFound, 409
// ErrConflict, 401 ErrUnauthenticated, 403 ErrForbidden, 422 ErrInvalid.
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

// send makes one request and returns the answer when its status is 2xx;
// otherwise a *Problem, or an error wrapping ErrUnreachable. The caller
// closes the body.
func (c *Client) send(ctx context.Context, method, path string, header http.Header) (*http.Response, error) {
	return c.sendBody(ctx, method, path, header, nil)
}

// sendBody is send with a JSON request body (none when body is nil).
func (c *Client) sendBody(ctx context.Context, method, path string, header http.Header, body any) (*http.Response, error) {
	var content io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		content = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, content)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s %s: %w", ErrUnreachable, method, c.base, stripURL(err))
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	p := &Problem{}
	if json.Unmarshal(answer, p) != nil || p.Title == "" {
		p = &Problem{Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(answer))}
	}
	p.Status = resp.StatusCode
	return nil, p
}

// stripURL drops the *url.Error wrapper, whose message repeats the URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// do makes a request and decodes its JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, out any) error {
	return c.doBody(ctx, method, path, nil, out)
}

// doBody is do with a JSON request body (none when body is nil).
func (c *Client) doBody(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.sendBody(ctx, method, path, http.Header{"Accept": {"application/json"}}, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}
