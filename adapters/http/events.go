package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/codecheck/codecheck/domain"
)

// StreamEventsInput is GET /jobs/{id}/events.
type StreamEventsInput struct {
	JobIDInput
	LastEventID string `header:"Last-Event-ID" maxLength:"20" pattern:"^[0-9]*$" doc:"Resume after the job's event with this id (sent by EventSource on reconnect)." example:"7"`
	AfterID     string `query:"last_event_id" maxLength:"20" pattern:"^[0-9]*$" doc:"Resume after the job's event with this id, for clients that cannot set headers." example:"7"`
}

// writeTimeout bounds one write to an event stream, whatever the server's
// WriteTimeout (which would otherwise cut every long stream).
const writeTimeout = 30 * time.Second

func (s *Server) registerEvents() {
	op := huma.Operation{
		OperationID: "stream-job-events", Method: http.MethodGet, Path: "/jobs/{id}/events", Tags: []string{"jobs"},
		Summary: "Follow a job's events",
		Description: "A Server-Sent Events stream. `job` events carry the job's status and progress, `section` " +
			"events a section that started (`running`) or ended (`completed`, `failed`, or `canceled` with the job). " +
			"Each has `id:` = the event's number within the job (1, 2, 3...). Reconnect with " +
			"`Last-Event-ID` (or `?last_event_id=`) to resume after that event of the job. The stream first " +
			"replays the events after that id, then follows live, and ends after the job's terminal status event. " +
			"A reconnect whose Last-Event-ID is at or past the terminal event of a job that has ended gets " +
			"204 No Content, which tells EventSource to stop reconnecting. The stream starts with a `retry:` " +
			"field (the reconnect delay, in milliseconds) and idle streams get a comment line every 15 seconds.",
		Security: bearerAuth, Errors: append([]int{http.StatusUnprocessableEntity}, jobErrors...),
		Responses: map[string]*huma.Response{
			"200": {
				Description: "The event stream.",
				Content:     map[string]*huma.MediaType{"text/event-stream": {Schema: s.eventStreamSchema()}},
			},
			"204": {Description: "The job has ended and the client has seen its terminal event: nothing more will come."},
		},
	}
	huma.Register(s.api, op, s.streamEvents)
}

// eventStreamSchema documents the stream the way huma's sse package does:
// an array of the possible messages.
func (s *Server) eventStreamSchema() *huma.Schema {
	reg := s.api.OpenAPI().Components.Schemas
	message := func(event string, data reflect.Type) *huma.Schema {
		return &huma.Schema{
			Title: "Event " + event, Type: huma.TypeObject, Required: []string{"id", "event", "data"},
			Properties: map[string]*huma.Schema{
				"id":    {Type: huma.TypeInteger, Description: "The event's number within its job (1, 2, 3...); send it back as Last-Event-ID."},
				"event": {Type: huma.TypeString, Enum: []any{event}, Description: "The event name."},
				"data":  reg.Schema(data, true, data.Name()),
			},
		}
	}
	return &huma.Schema{
		Title: "Server Sent Events", Type: huma.TypeArray,
		Description: "Each item is one possible SSE message, sent as UTF-8 text per the SSE specification.",
		Items: &huma.Schema{OneOf: []*huma.Schema{
			message("job", reflect.TypeFor[JobEvent]()),
			message("section", reflect.TypeFor[SectionEvent]()),
		}},
	}
}

func (in *StreamEventsInput) after() (int64, error) {
	raw, location := in.LastEventID, "header.Last-Event-ID"
	if raw == "" {
		raw, location = in.AfterID, "query.last_event_id"
	}
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		return 0, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Message: "must be a non-negative event id", Location: location, Value: raw})
	}
	return n, nil
}

// streamEvents checks the job before the stream starts, so an unknown job is
// an ordinary 404 problem. Watch is registered before the first read: a
// change between the read and the wait still wakes the stream.
func (s *Server) streamEvents(ctx context.Context, in *StreamEventsInput) (*huma.StreamResponse, error) {
	after, err := in.after()
	if err != nil {
		return nil, err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	changes, err := s.svc.Watch(watchCtx, in.ID)
	if err != nil {
		stopWatch()
		return nil, s.problem(ctx, err)
	}
	first, ended, err := s.resume(ctx, in.ID, after)
	if err != nil {
		stopWatch()
		return nil, s.problem(ctx, err)
	}
	if ended {
		stopWatch()
		return &huma.StreamResponse{Body: func(hctx huma.Context) { hctx.SetStatus(http.StatusNoContent) }}, nil
	}
	if len(first) > 0 && first[0].Seq <= after {
		after = 0 // a stale id: replaying from the first event
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer stopWatch()
		st := &stream{s: s, ctx: ctx, jobID: in.ID, last: after, changes: changes}
		st.start(hctx)
		st.run(first)
	}}, nil
}

// resume returns the events after the client's Last-Event-ID, or ended when
// there is nothing left to send: the job has ended and the id is at or past
// its last event, the terminal one (SSE's way to say so is a 204, which
// stops EventSource's reconnects).
//
// An id beyond the last event of a job that has not ended is one no client
// of this job can have seen (an id from before event ids were numbered per
// job, or a wrong one): rather than wait forever for an event that far on,
// the stream starts again from the job's first event.
func (s *Server) resume(ctx context.Context, jobID string, after int64) (events []domain.Event, ended bool, err error) {
	events, err = s.svc.Events(ctx, jobID, after)
	if err != nil || len(events) > 0 || after == 0 {
		return events, false, err
	}
	r, err := s.svc.Get(ctx, jobID)
	if err != nil {
		return nil, false, err
	}
	if r.Job.Status.Terminal() {
		// The terminal event is stored with the status change, so a job
		// seen ended has it among its events: after > every event's id.
		more, err := s.svc.Events(ctx, jobID, after)
		return more, err == nil && len(more) == 0, err
	}
	all, err := s.svc.Events(ctx, jobID, 0)
	if err != nil || len(all) == 0 || all[len(all)-1].Seq >= after {
		return nil, false, err
	}
	return all, false, nil
}

// stream is one client's event stream.
type stream struct {
	s       *Server
	ctx     context.Context
	jobID   string
	last    int64
	changes <-chan struct{}
	w       io.Writer
	rc      *http.ResponseController
}

func (st *stream) start(hctx huma.Context) {
	hctx.SetHeader("Content-Type", "text/event-stream")
	hctx.SetHeader("Cache-Control", "no-cache")
	hctx.SetHeader("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	hctx.SetStatus(http.StatusOK)
	st.w = hctx.BodyWriter()
	if rw, ok := st.w.(http.ResponseWriter); ok {
		st.rc = http.NewResponseController(rw)
	}
	// The reconnect delay EventSource waits after the stream ends or
	// drops (browsers default to a few seconds, some clients to one).
	st.deadline()
	if _, err := fmt.Fprintf(st.w, "retry: %d\n\n", st.s.cfg.Retry.Milliseconds()); err != nil {
		return
	}
	st.flush()
}

// run writes events until the job's terminal event, the client leaving, or
// server shutdown. It waits for a change notification, and reads again at
// each keep-alive in case one never came.
func (st *stream) run(events []domain.Event) {
	events, ok := st.catchUp(events)
	if !ok {
		return
	}
	keepAlive := time.NewTicker(st.s.cfg.KeepAlive)
	defer keepAlive.Stop()
	for {
		for len(events) > 0 {
			e := events[0]
			events = events[1:]
			if err := st.write(e); err != nil {
				return
			}
			if e.Type == domain.EventJob && domain.JobStatus(e.Status).Terminal() && len(events) == 0 {
				// The end, unless the job was retried since: a history can
				// hold an old terminal event followed by a new attempt.
				more, err := st.s.svc.Events(st.ctx, st.jobID, st.last)
				if err != nil || len(more) == 0 {
					return
				}
				events = more
			}
		}
		select {
		case <-st.ctx.Done():
			return
		case <-st.s.closing:
			return
		case _, ok := <-st.changes:
			if !ok {
				return
			}
		case <-keepAlive.C:
			// Read again at every keep-alive as well: a change feed that
			// silently delivers nothing (a pooler that accepts LISTEN and
			// drops notifications) delays the stream, it cannot stall it.
			if err := st.comment("keep-alive"); err != nil {
				return
			}
		}
		var err error
		if events, err = st.s.svc.Events(st.ctx, st.jobID, st.last); err != nil {
			if st.ctx.Err() == nil {
				st.s.log.Warn("event stream: reading events failed", "job_id", st.jobID, "err", err)
			}
			return
		}
	}
}

// catchUp handles a client resuming with nothing new to read: if the job
// has ended there is nothing to wait for (ok=false), unless it ended just
// now, in which case the events read again include its terminal event.
func (st *stream) catchUp(events []domain.Event) ([]domain.Event, bool) {
	if len(events) > 0 {
		return events, true
	}
	r, err := st.s.svc.Get(st.ctx, st.jobID)
	if err != nil {
		return nil, false
	}
	if !r.Job.Status.Terminal() {
		return nil, true
	}
	// The terminal event is stored with the status change, so a job seen
	// ended has its event visible now.
	events, err = st.s.svc.Events(st.ctx, st.jobID, st.last)
	return events, err == nil && len(events) > 0
}

func (st *stream) write(e domain.Event) error {
	data, err := json.Marshal(eventData(e))
	if err != nil {
		return err
	}
	st.deadline()
	if _, err := fmt.Fprintf(st.w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, data); err != nil {
		return err
	}
	st.last = e.Seq
	return st.flush()
}

func (st *stream) comment(text string) error {
	st.deadline()
	if _, err := fmt.Fprintf(st.w, ": %s\n\n", text); err != nil {
		return err
	}
	return st.flush()
}

func (st *stream) deadline() {
	if st.rc != nil {
		_ = st.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	}
}

func (st *stream) flush() error {
	if st.rc == nil {
		if f, ok := st.w.(http.Flusher); ok {
			f.Flush()
		}
		return nil
	}
	if err := st.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
