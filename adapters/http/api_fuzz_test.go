package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/adapters/webhook"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// fuzzAPI is the API over a SQLite store, built once per fuzz target (newEnv
// wants a *testing.T), called in process through its handler.
type fuzzAPI struct {
	handler http.Handler
	store   ports.JobStore
}

func newFuzzAPI(f *testing.F) *fuzzAPI {
	f.Helper()
	st, err := sqlite.Open(f.Context(), filepath.Join(f.TempDir(), "codecheck.db"))
	if err != nil {
		f.Fatal(err)
	}
	providers, err := app.NewProvidersWith(app.ProvidersConfig{LLMs: []ports.LLM{stubLLM{}},
		Setup: map[string]string{"openai": "OPENAI_API_KEY"}})
	if err != nil {
		f.Fatal(err)
	}
	svc, err := app.NewService(app.ServiceConfig{Store: st, Changes: st, Providers: providers, Logger: quiet,
		ValidateWebhook: webhook.NewValidator(false, resolver{})})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{Service: svc, Logger: quiet, Version: "test", KeepAlive: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		srv.Close()
		if err := st.Close(); err != nil {
			f.Error(err)
		}
	})
	return &fuzzAPI{handler: srv.Handler(), store: st}
}

// serve runs one request through the handler; a handler that does not
// answer within 10 s fails the test.
func (a *fuzzAPI) serve(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req.WithContext(ctx))
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within 10s", req.Method, req.URL)
	}
	return rec
}

// requireProblem fails unless rec is a problem document with status whose
// every error detail is located in one of places (a prefix such as "body").
func requireProblem(t *testing.T, rec *httptest.ResponseRecorder, places ...string) problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("HTTP %d with Content-Type %q: %s", rec.Code, ct, rec.Body)
	}
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Title == "" {
		t.Fatalf("HTTP %d with a bad problem document (%v): %s", rec.Code, err, rec.Body)
	}
	for _, e := range p.Errors {
		if !slices.ContainsFunc(places, func(place string) bool { return strings.HasPrefix(e.Location, place) }) {
			t.Fatalf("error %q located at %q, want one of %v: %s", e.Message, e.Location, places, rec.Body)
		}
	}
	return p
}

// FuzzSubmitJob posts arbitrary bodies and Idempotency-Keys to POST /jobs.
// The answer is 202 with a job, or a 400, 413 or 422 problem whose details
// name a field of the body or the header; never a 5xx. An accepted job
// reads back as submitted, with its address in normal form and its
// sections in catalogue order with the jurisdiction; the same request with
// the same key gives the same job.
func FuzzSubmitJob(f *testing.F) {
	for _, s := range []struct{ body, key string }{
		{`{"address":"100 N 1st St, Springfield, IL 62701"}`, ""},
		{`{"address":"  100 N 1st St, Springfield, IL 62701  ","sections":["zoning_use","zoning_use","parking"]}`, "k-1"},
		{`{"address":"1 Main St, Town","llm_provider":"fake","project":{"use":"office","scope":"tenant_improvement",` +
			`"stories":2,"floor_area_sqft":1200,"description":"fit-out"}}`, ""},
		{`{"address":"1 Main St, Town","llm_provider":"openai"}`, ""},
		{`{"address":"1 Main St, Town","webhook_url":"https://hooks.example.com/x"}`, "hook"},
		{`{"address":"1 Main St, Town","webhook_url":"https://intranet.example.com/x"}`, ""},
		{`{"address":"1 Main St, Town","sections":["nope"]}`, ""},
		{`{"address":"1 Main St, Town","project":{"stories":0,"scope":"castle"}}`, ""},
		{`{"address":"1 Main St, Town","project":{}}`, ""},
		{`{"address":"1 Main St\u0000, Town"}`, ""},
		{`{"address":"1 Main St, Town","ADDRESS":"x"}`, ""},
		{`{"address":"abc"}`, ""},
		{`{"address":1}`, ""},
		{`{}`, ""},
		{`[]`, ""},
		{`{"address":"1 Main St, Town"`, ""},
		{``, ""},
		{`{"address":"1 Main St, Town"}`, strings.Repeat("k", 300)},
	} {
		f.Add([]byte(s.body), s.key)
	}
	api := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		if !validHeaderValue(key) {
			t.Skip("net/http never delivers such a header value")
		}
		post := func() *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, "/jobs", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			return api.serve(t, req)
		}
		rec := post()
		switch rec.Code {
		case http.StatusAccepted:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			requireProblem(t, rec, "body", "header.Idempotency-Key")
			return
		default:
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
		var job jobView
		if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil {
			t.Fatalf("202 body: %v: %s", err, rec.Body)
		}
		if rec.Header().Get("Location") != "/jobs/"+job.ID || job.ID == "" {
			t.Fatalf("Location %q for job %q", rec.Header().Get("Location"), job.ID)
		}
		if norm, err := domain.NormalizeAddress(job.Address); err != nil || norm != job.Address {
			t.Fatalf("accepted address %q is not in normal form: %q, %v", job.Address, norm, err)
		}
		requireSectionsInOrder(t, job)
		stored := getJobView(t, api, job.ID)
		if stored.Address != job.Address || stored.LLMProvider != job.LLMProvider || !sameSections(stored, job) {
			t.Fatalf("the job reads back as %+v, submitted %+v", stored, job)
		}
		if key != "" {
			again := post()
			var replay jobView
			if again.Code != http.StatusAccepted || json.Unmarshal(again.Body.Bytes(), &replay) != nil || replay.ID != job.ID {
				t.Fatalf("replay with the same key: HTTP %d: %s", again.Code, again.Body)
			}
		}
	})
}

func requireSectionsInOrder(t *testing.T, job jobView) {
	t.Helper()
	var keys []string
	for _, s := range job.Sections {
		keys = append(keys, s.Key)
	}
	var want []string
	for _, k := range domain.SectionKeys() {
		if slices.Contains(keys, k) {
			want = append(want, k)
		}
	}
	if len(keys) == 0 || keys[0] != domain.JurisdictionKey || !slices.Equal(keys, want) {
		t.Fatalf("sections %v: want unique keys in catalogue order, the jurisdiction first", keys)
	}
}

func sameSections(a, b jobView) bool {
	return slices.EqualFunc(a.Sections, b.Sections, func(x, y struct {
		Key    string `json:"key"`
		Title  string `json:"title"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}) bool {
		return x.Key == y.Key
	})
}

func getJobView(t *testing.T, api *fuzzAPI, id string) jobView {
	t.Helper()
	rec := api.serve(t, httptest.NewRequest(http.MethodGet, "/jobs/"+id, nil))
	var v jobView
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
		t.Fatalf("GET /jobs/%s: HTTP %d: %s", id, rec.Code, rec.Body)
	}
	return v
}

// validHeaderValue reports whether net/http would hand the handler v as a
// header value: no control characters but tab, no surrounding blanks.
func validHeaderValue(v string) bool {
	if strings.TrimFunc(v, func(r rune) bool { return r == ' ' || r == '\t' }) != v {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzLastEventID resumes the event stream of a finished job with arbitrary
// Last-Event-ID headers and ?last_event_id= values. Each must be at most 20
// digits and fit an event id, else the answer is a 422 naming the
// parameter at fault; the header wins when both are given. An accepted id
// n replays exactly the job's events after n, in order, and the stream
// ends; the job has ended, so an n at or beyond its last (terminal) event
// is a 204 No Content.
func FuzzLastEventID(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"0", ""}, {"1", ""}, {"2", "5"}, {"", "3"}, {"", "0003"}, {"999", ""},
		{"9223372036854775807", ""}, {"9223372036854775808", ""}, {"", "99999999999999999999"},
		{"123456789012345678901", ""}, {"-1", ""}, {"+1", ""}, {" 1", ""}, {"1e3", ""}, {"", "0x10"}, {"abc", "1"}, {"1", "abc"},
	} {
		f.Add(s[0], s[1])
	}
	api := newFuzzAPI(f)
	jobID, events := finishedJob(f, api)
	f.Fuzz(func(t *testing.T, header, query string) {
		if !validHeaderValue(header) {
			t.Skip("net/http never delivers such a header value")
		}
		req := httptest.NewRequest(http.MethodGet, "/jobs/"+jobID+"/events?"+url.Values{"last_event_id": {query}}.Encode(), nil)
		if header != "" {
			req.Header.Set("Last-Event-ID", header)
		}
		rec := api.serve(t, req)
		after, ok, fault := resumePoint(header, query)
		if !ok {
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("header %q, query %q: HTTP %d, want 422: %s", header, query, rec.Code, rec.Body)
			}
			p := requireProblem(t, rec, "header.Last-Event-ID", "query.last_event_id")
			if !slices.ContainsFunc(p.Errors, func(e struct {
				Message  string `json:"message"`
				Location string `json:"location"`
			}) bool {
				return e.Location == fault
			}) {
				t.Fatalf("header %q, query %q: the problem does not name %s: %s", header, query, fault, rec.Body)
			}
			return
		}
		if after > 0 && after >= events[len(events)-1].Seq {
			// The job has ended and the id is at or past its terminal
			// event: nothing more will come.
			if rec.Code != http.StatusNoContent || rec.Body.Len() > 0 {
				t.Fatalf("header %q, query %q: HTTP %d, want 204 with no body: %s", header, query, rec.Code, rec.Body)
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("header %q, query %q: HTTP %d, want 200: %s", header, query, rec.Code, rec.Body)
		}
		var want []int64
		for _, e := range events {
			if e.Seq > after {
				want = append(want, e.Seq)
			}
		}
		if got := streamIDs(rec.Body.String()); !slices.Equal(got, want) {
			t.Fatalf("resuming after %d replayed %v, want %v", after, got, want)
		}
	})
}

// resumePoint is what the API should make of the parameters: the event id
// to resume after, or !ok and the location of the parameter at fault.
func resumePoint(header, query string) (after int64, ok bool, fault string) {
	wellFormed := func(s string) bool {
		return len(s) <= 20 && strings.Trim(s, "0123456789") == ""
	}
	switch {
	case !wellFormed(header):
		return 0, false, "header.Last-Event-ID"
	case !wellFormed(query):
		return 0, false, "query.last_event_id"
	}
	raw, where := header, "header.Last-Event-ID"
	if raw == "" {
		raw, where = query, "query.last_event_id"
	}
	if raw == "" {
		return 0, true, ""
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, false, where
	}
	return n, true, ""
}

// finishedJob submits a two-section job, runs it to completion through the
// store and returns its id and events.
func finishedJob(f *testing.F, api *fuzzAPI) (string, []domain.Event) {
	f.Helper()
	ctx := f.Context()
	req := httptest.NewRequest(http.MethodPost, "/jobs",
		strings.NewReader(`{"address":"`+address+`","sections":["zoning_use"]}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	api.handler.ServeHTTP(rec, req)
	var job jobView
	if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &job) != nil {
		f.Fatalf("submit: HTTP %d: %s", rec.Code, rec.Body)
	}
	claimed, err := api.store.Claim(ctx, ports.ClaimRequest{JobID: job.ID, Worker: "fuzz", Lease: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	lease := ports.Lease{JobID: job.ID, Attempt: claimed.Attempt}
	for _, key := range []string{domain.JurisdictionKey, "zoning_use"} {
		spec, _ := domain.LookupSection(key)
		res := domain.NewSectionResult(spec)
		res.Status, res.Provider, res.Model, res.Attempts = domain.SectionCompleted, "fake", "stub", 1
		res.Summary, res.Outcome, res.Confidence = "Done.", domain.OutcomeNotFound, domain.ConfidenceLow
		if err := api.store.SaveSection(ctx, lease, res); err != nil {
			f.Fatal(err)
		}
	}
	if _, err := api.store.Finish(ctx, lease, domain.JobCompleted, ""); err != nil {
		f.Fatal(err)
	}
	events, err := api.store.Events(ctx, job.ID, 0, 0)
	if err != nil || len(events) < 3 {
		f.Fatalf("events %v, %v", events, err)
	}
	return job.ID, events
}

// streamIDs are the ids of the events in an SSE body, in order.
func streamIDs(body string) []int64 {
	var ids []int64
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			ids = append(ids, n)
		}
	}
	return ids
}
