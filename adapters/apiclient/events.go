package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/codecheck/codecheck/adapters/apiclient/gen"
)

// Event is one message of GET /jobs/{id}/events: a "job" event (status,
// progress) or a "section" event (a section's status).
type Event struct {
	ID       string `json:"-"`
	Type     string `json:"-"`
	JobID    string `json:"job_id"`
	Key      string `json:"key,omitempty"` // section events
	Status   string `json:"status"`
	Progress string `json:"progress"`
	Attempt  int    `json:"attempt"`
	Error    string `json:"error,omitempty"`
	// Verified: a section event recording the section's verification;
	// VerifiedProgress the job's verified count, with verify on.
	Verified         bool      `json:"verified,omitempty"`
	VerifiedProgress string    `json:"verified_progress,omitempty"`
	At               time.Time `json:"at"`
}

// Reconnect backoff of Follow: doubling from reconnectBase up to
// reconnectMax.
const (
	reconnectBase = 200 * time.Millisecond
	reconnectMax  = 5 * time.Second
)

// Follow streams the job's events to fn until the server ends the stream
// after the job's terminal status, ctx ends, or fn returns an error. A
// stream cut short is reopened with Last-Event-ID, after a backoff; errors
// the server answers with (404, 401...) end Follow at once, as do
// unreachable-server errors before the first event. after is the id of the
// last event already seen ("" for all).
func (c *Client) Follow(ctx context.Context, id, after string, fn func(Event) error) error {
	delay := reconnectBase
	connected := false
	for {
		err := c.stream(ctx, id, &after, &connected, fn)
		if err == nil {
			return nil
		}
		var p *Problem
		var fnErr callbackError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &fnErr):
			return fnErr.err
		case errors.As(err, &p), !connected:
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, reconnectMax)
	}
}

// callbackError is an error of Follow's fn, which ends Follow.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// errCutShort is a stream that ended before the job's terminal event.
var errCutShort = errors.New("event stream ended early")

// stream reads one connection's events; nil when the server ended it
// normally (after the terminal event).
func (c *Client) stream(ctx context.Context, id string, after *string, connected *bool, fn func(Event) error) error {
	params := &gen.StreamJobEventsParams{}
	if *after != "" {
		params.LastEventID = after
	}
	// The generated client's raw call: it cannot read a stream, so the
	// events are parsed here.
	resp, err := c.api.StreamJobEvents(ctx, id, params, func(_ context.Context, req *http.Request) error {
		req.Header.Set("Accept", "text/event-stream")
		return nil
	})
	if err != nil {
		return c.transportError(ctx, "GET /jobs/{id}/events", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return problemOf(resp.StatusCode, b)
	}
	*connected = true
	if resp.StatusCode == http.StatusNoContent {
		return nil // resumed at or past an ended job's terminal event
	}
	ended := false
	err = readEvents(resp.Body, func(e Event) error {
		*after = e.ID
		if e.Type == "job" && terminal(e.Status) {
			ended = true
		}
		if err := fn(e); err != nil {
			return callbackError{err}
		}
		return nil
	})
	if err != nil || ended {
		return err
	}
	// A stream resumed after the terminal event ends at once, empty: the
	// job says whether there is more to wait for.
	if j, err := c.Job(ctx, id); err == nil && terminal(j.Status) {
		return nil
	}
	return errCutShort
}

// terminal reports whether a job status is final. A retried job moves on
// from it, but the server ends the stream after it only when nothing
// follows.
func terminal(status string) bool {
	return status == "completed" || status == "failed" || status == "canceled"
}

// readEvents parses a text/event-stream, calling fn for each event with
// data; comments and unknown fields are skipped.
func readEvents(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var id, typ string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data.Len() > 0 {
				e := Event{}
				if err := json.Unmarshal([]byte(data.String()), &e); err != nil {
					return fmt.Errorf("event %s: %w", id, err)
				}
				e.ID, e.Type = id, cmpOr(typ, "message")
				if err := fn(e); err != nil {
					return err
				}
			}
			typ = ""
			data.Reset()
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "event":
			typ = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	return sc.Err()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
