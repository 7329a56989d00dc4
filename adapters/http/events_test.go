package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

type sseEvent struct {
	ID    int64
	Event string
	Data  struct {
		JobID    string `json:"job_id"`
		Status   string `json:"status"`
		Progress string `json:"progress"`
		Key      string `json:"key"`
		Attempt  int    `json:"attempt"`
	}
}

// openStream starts GET /jobs/{id}/events and delivers its events on the
// returned channel, which is closed when the stream ends. comments receives
// comment lines.
func (e *env) openStream(path string, headers ...string) (events <-chan sseEvent, comments <-chan string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	req := e.request(http.MethodGet, path, nil, headers...)
	res, err := e.http.Client().Do(req.WithContext(ctx))
	require.NoError(e.t, err)
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		require.Failf(e.t, "stream refused", "%d: %s", res.StatusCode, b)
	}
	require.Equal(e.t, "text/event-stream", res.Header.Get("Content-Type"))
	out := make(chan sseEvent, 100)
	notes := make(chan string, 100)
	e.t.Cleanup(cancel)
	go func() {
		defer cancel()
		defer res.Body.Close()
		defer close(out)
		parseSSE(e.t, res.Body, out, notes)
	}()
	return out, notes
}

func parseSSE(t *testing.T, r io.Reader, out chan<- sseEvent, notes chan<- string) {
	sc := bufio.NewScanner(r)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ": ")
		switch field {
		case "":
			if line == "" && ev.Event != "" {
				out <- ev
				ev = sseEvent{}
			} else if strings.HasPrefix(line, ":") {
				select {
				case notes <- strings.TrimSpace(strings.TrimPrefix(line, ":")):
				default:
				}
			}
		case "id":
			ev.ID, _ = strconv.ParseInt(value, 10, 64)
		case "event":
			ev.Event = value
		case "data":
			if err := json.Unmarshal([]byte(value), &ev.Data); err != nil {
				t.Errorf("bad data line %q: %v", line, err)
			}
		}
	}
}

func next(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		require.True(t, ok, "stream ended early")
		return ev
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no event within 5s")
	}
	return sseEvent{}
}

func collect(t *testing.T, events <-chan sseEvent) []sseEvent {
	t.Helper()
	var all []sseEvent
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return all
			}
			all = append(all, ev)
		case <-time.After(5 * time.Second):
			require.FailNow(t, "stream did not end within 5s", "got %d events", len(all))
		}
	}
}

// runJob takes a two-section job through to completion.
func (e *env) runJob(id string) {
	l := e.claim(id)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.saveSection(l, "zoning_use", domain.SectionCompleted)
	e.finish(l, domain.JobCompleted, "")
}

func requireOrdered(t *testing.T, all []sseEvent) {
	t.Helper()
	for i := 1; i < len(all); i++ {
		require.Greater(t, all[i].ID, all[i-1].ID, "ids increase")
	}
}

func TestEventsLiveUntilTerminalStatus(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	events, _ := e.openStream("/jobs/" + v.ID + "/events")

	first := next(t, events)
	require.Equal(t, "job", first.Event)
	require.Equal(t, "pending", first.Data.Status)
	require.Equal(t, v.ID, first.Data.JobID)

	l := e.claim(v.ID)
	ev := next(t, events)
	require.Equal(t, "job", ev.Event)
	require.Equal(t, "processing", ev.Data.Status)
	require.Equal(t, 1, ev.Data.Attempt)

	started := next(t, events)
	require.Equal(t, "section", started.Event, "the claim starts the jurisdiction")
	require.Equal(t, "running", started.Data.Status)

	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	section := next(t, events)
	require.Equal(t, "section", section.Event)
	require.Equal(t, "jurisdiction", section.Data.Key)
	require.Equal(t, "completed", section.Data.Status)
	require.Equal(t, "1/2", section.Data.Progress)

	e.saveSection(l, "zoning_use", domain.SectionCompleted)
	e.finish(l, domain.JobCompleted, "")
	rest := collect(t, events) // ends by itself after the terminal event
	require.NotEmpty(t, rest)
	last := rest[len(rest)-1]
	require.Equal(t, "job", last.Event)
	require.Equal(t, "completed", last.Data.Status)
	require.Equal(t, "2/2", last.Data.Progress)
	requireOrdered(t, append([]sseEvent{first, ev, started, section}, rest...))
}

func TestEventsReplayAndResume(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	e.runJob(v.ID)

	events, _ := e.openStream("/jobs/" + v.ID + "/events")
	all := collect(t, events)
	requireOrdered(t, all)
	require.GreaterOrEqual(t, len(all), 5, "created, claimed, 2 sections, finished")
	require.Equal(t, "pending", all[0].Data.Status)
	require.Equal(t, "completed", all[len(all)-1].Data.Status)
	var sections []string
	for _, ev := range all {
		if ev.Event == "section" {
			sections = append(sections, ev.Data.Key+" "+ev.Data.Status)
		}
	}
	require.Equal(t, []string{"jurisdiction running", "jurisdiction completed", "zoning_use completed"}, sections)

	from := strconv.FormatInt(all[1].ID, 10)
	events, _ = e.openStream("/jobs/"+v.ID+"/events", "Last-Event-ID: "+from)
	require.Equal(t, all[2:], collect(t, events))

	events, _ = e.openStream("/jobs/" + v.ID + "/events?last_event_id=" + from)
	require.Equal(t, all[2:], collect(t, events))

	// At or past the terminal event of an ended job: 204, EventSource's
	// signal to stop reconnecting.
	for _, id := range []int64{all[len(all)-1].ID, all[len(all)-1].ID + 1, 500} {
		r := e.do(http.MethodGet, "/jobs/"+v.ID+"/events", nil, "Last-Event-ID: "+strconv.FormatInt(id, 10))
		require.Equal(t, http.StatusNoContent, r.StatusCode, "Last-Event-ID %d: %s", id, r.body)
		require.Empty(t, r.body)
	}
	r := e.do(http.MethodGet, "/jobs/"+v.ID+"/events?last_event_id="+strconv.FormatInt(all[len(all)-1].ID, 10), nil)
	require.Equal(t, http.StatusNoContent, r.StatusCode, "the query parameter too")

	p := e.do(http.MethodGet, "/jobs/"+v.ID+"/events", nil, "Last-Event-ID: abc").problem(t, http.StatusUnprocessableEntity)
	require.Equal(t, "header.Last-Event-ID", p.Errors[0].Location)
}

func TestEventsResumeAcrossRetry(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"jurisdiction"}})
	l := e.claim(v.ID)
	e.saveSection(l, "jurisdiction", domain.SectionFailed)
	e.finish(l, domain.JobFailed, "sections failed: jurisdiction")
	events, _ := e.openStream("/jobs/" + v.ID + "/events")
	all := collect(t, events)
	require.Equal(t, "failed", all[len(all)-1].Data.Status)

	e.do(http.MethodPost, "/jobs/"+v.ID+"/retry", nil)
	events, _ = e.openStream("/jobs/"+v.ID+"/events", "Last-Event-ID: "+strconv.FormatInt(all[len(all)-1].ID, 10))
	ev := next(t, events)
	require.Equal(t, "pending", ev.Data.Status, "a retried job streams on")

	// A new stream from the start passes the old failed event and follows
	// the new attempt.
	events, _ = e.openStream("/jobs/" + v.ID + "/events")
	for range all {
		next(t, events)
	}
	ev = next(t, events)
	require.Equal(t, "pending", ev.Data.Status, "the stream did not end at the old failed event")
	l = e.claim(v.ID)
	require.Equal(t, "processing", next(t, events).Data.Status)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.finish(l, domain.JobCompleted, "")
	rest := collect(t, events)
	require.Equal(t, "completed", rest[len(rest)-1].Data.Status)
}

func TestEventsKeepAliveAndShutdown(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config, _ *app.ServiceConfig) { c.KeepAlive = 10 * time.Millisecond })
	v := e.submit(map[string]any{"address": address})
	events, comments := e.openStream("/jobs/" + v.ID + "/events")
	next(t, events)
	select {
	case c := <-comments:
		require.Equal(t, "keep-alive", c)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no keep-alive comment")
	}
	e.srv.Close()
	require.Empty(t, collect(t, events), "Close ends open streams")
}

// A section that starts running is streamed as it happens, before its end:
// the jurisdiction's start comes with the claim, and the others' with the
// save that hands them a place.
func TestEventsSectionStarted(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	events, _ := e.openStream("/jobs/" + v.ID + "/events")
	require.Equal(t, "pending", next(t, events).Data.Status)
	l := e.claim(v.ID)
	require.Equal(t, "processing", next(t, events).Data.Status)

	started := next(t, events)
	require.Equal(t, "section", started.Event)
	require.Equal(t, "jurisdiction", started.Data.Key)
	require.Equal(t, "running", started.Data.Status)
	require.Equal(t, "0/2", started.Data.Progress)

	e.saveSection(l, "jurisdiction", domain.SectionCompleted, "zoning_use")
	for _, want := range []string{"jurisdiction completed", "zoning_use running"} {
		ev := next(t, events)
		require.Equal(t, "section", ev.Event)
		require.Equal(t, want, ev.Data.Key+" "+ev.Data.Status)
		require.Equal(t, "1/2", ev.Data.Progress)
	}
}

// Event ids count within the job: Last-Event-ID: 2 resumes after the job's
// second event however many events other jobs had.
func TestEventsIDsPerJob(t *testing.T) {
	e := newEnv(t)
	other := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	e.runJob(other.ID)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	e.runJob(v.ID)

	events, _ := e.openStream("/jobs/" + v.ID + "/events")
	all := collect(t, events)
	for i, ev := range all {
		require.Equal(t, int64(i+1), ev.ID, "event %d", i)
	}
	events, _ = e.openStream("/jobs/"+v.ID+"/events", "Last-Event-ID: 2")
	require.Equal(t, all[2:], collect(t, events))
}

// A Last-Event-ID beyond the last event of a job that has not ended (say,
// a global id from before ids were per job) replays the job from its start
// instead of waiting for an event that far on. (Of an ended job it is a 204:
// TestEventsReplayAndResume.)
func TestEventsStaleLastEventIDReplays(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	events, _ := e.openStream("/jobs/"+v.ID+"/events", "Last-Event-ID: 500")
	first := next(t, events)
	require.Equal(t, int64(1), first.ID)
	require.Equal(t, "pending", first.Data.Status)
	e.claim(v.ID)
	require.Equal(t, "processing", next(t, events).Data.Status, "and then follows live")
}

// A cancel streams each unfinished section as canceled, then the job's end.
func TestEventsCancelClosesSections(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	l := e.claim(v.ID)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.saveSection(l, "zoning_use", domain.SectionRunning)
	events, _ := e.openStream("/jobs/" + v.ID + "/events")
	e.do(http.MethodPost, "/jobs/"+v.ID+"/cancel", nil)
	all := collect(t, events)
	tail := all[len(all)-2:]
	require.Equal(t, "section", tail[0].Event)
	require.Equal(t, "zoning_use", tail[0].Data.Key)
	require.Equal(t, "canceled", tail[0].Data.Status)
	require.Equal(t, "job", tail[1].Event)
	require.Equal(t, "canceled", tail[1].Data.Status)
}

// Every stream starts with a retry: field, so that EventSource waits that
// long before it reconnects; keep-alive comments still follow.
func TestEventsSendRetryField(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config, _ *app.ServiceConfig) {
		c.Retry = 1500 * time.Millisecond
		c.KeepAlive = 10 * time.Millisecond
	})
	v := e.submit(map[string]any{"address": address})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := e.http.Client().Do(e.request(http.MethodGet, "/jobs/"+v.ID+"/events", nil).WithContext(ctx))
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	sc := bufio.NewScanner(res.Body)
	require.True(t, sc.Scan())
	require.Equal(t, "retry: 1500", sc.Text(), "the first line")
	var keepAlive bool
	for sc.Scan() && !keepAlive {
		keepAlive = sc.Text() == ": keep-alive"
	}
	require.True(t, keepAlive, "keep-alive comments follow")
}
