package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/apiclient"
	"github.com/codecheck/codecheck/domain"
)

// events is a fake event stream: the first connection sends events 1 and 2
// and is cut; the reconnection must ask for what follows event 2.
type events struct {
	mu          sync.Mutex
	lastEventID []string
}

func (e *events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.lastEventID = append(e.lastEventID, r.Header.Get("Last-Event-ID"))
	n := len(e.lastEventID)
	e.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer k1" {
		http.Error(w, `{"title":"Unauthorized","status":401,"detail":"missing or wrong bearer key"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	if n == 1 {
		fmt.Fprint(w, "id: 1\nevent: section\ndata: {\"job_id\":\"j\",\"key\":\"jurisdiction\",\"status\":\"completed\",\"progress\":\"1/2\"}\n\n")
		fmt.Fprint(w, ": keep-alive\n\n")
		fmt.Fprint(w, "id: 2\nevent: job\ndata: {\"job_id\":\"j\",\"status\":\"processing\",\"progress\":\"1/2\"}\n\n")
		return // cut short
	}
	fmt.Fprint(w, "id: 3\nevent: section\ndata: {\"job_id\":\"j\",\"key\":\"zoning_use\",\"status\":\"completed\",\"progress\":\"2/2\"}\n\n")
	fmt.Fprint(w, "id: 4\nevent: job\ndata: {\"job_id\":\"j\",\"status\":\"completed\",\"progress\":\"2/2\"}\n\n")
}

func TestFollowReconnectsWithLastEventID(t *testing.T) {
	ev := &events{}
	mux := http.NewServeMux()
	mux.Handle("GET /jobs/j/events", ev)
	mux.HandleFunc("GET /jobs/j", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"j","status":"processing","progress":"1/2"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := apiclient.New(srv.URL, apiclient.WithAPIKey("k1"))
	require.NoError(t, err)

	var got []string
	err = c.Follow(context.Background(), "j", "", func(e apiclient.Event) error {
		got = append(got, fmt.Sprintf("%s %s %s%s %s", e.ID, e.Type, e.Key, e.Status, e.Progress))
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{
		"1 section jurisdictioncompleted 1/2", "2 job processing 1/2",
		"3 section zoning_usecompleted 2/2", "4 job completed 2/2",
	}, got)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	require.Equal(t, []string{"", "2"}, ev.lastEventID)
}

func TestFollowStopsOnAnswerErrors(t *testing.T) {
	srv := httptest.NewServer(&events{})
	defer srv.Close()
	c, err := apiclient.New(srv.URL, apiclient.WithAPIKey("wrong"))
	require.NoError(t, err)
	err = c.Follow(context.Background(), "j", "", func(apiclient.Event) error { return nil })
	require.ErrorIs(t, err, domain.ErrUnauthenticated)
	var p *apiclient.Problem
	require.ErrorAs(t, err, &p)
	require.Equal(t, "HTTP 401 Unauthorized: missing or wrong bearer key", p.Error())
}

// A stream resumed after the job's last event is empty; Follow ends when
// the job has ended.
func TestFollowEndsAfterAnEmptyStreamOfAnEndedJob(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jobs/j/events", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
	})
	mux.HandleFunc("GET /jobs/j", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"j","status":"canceled","progress":"1/2"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := apiclient.New(srv.URL)
	require.NoError(t, err)
	calls := 0
	require.NoError(t, c.Follow(context.Background(), "j", "9", func(apiclient.Event) error { calls++; return nil }))
	require.Zero(t, calls)
}

// A resume at or past the terminal event of an ended job is a 204: Follow
// ends there, without asking again.
func TestFollowEndsOnNoContent(t *testing.T) {
	var asked []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jobs/j/events", func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.Header.Get("Last-Event-ID"))
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := apiclient.New(srv.URL)
	require.NoError(t, err)
	require.NoError(t, c.Follow(context.Background(), "j", "9", func(apiclient.Event) error {
		return errors.New("no event expected")
	}))
	require.Equal(t, []string{"9"}, asked)
}

func TestErrorsMapToTheDomain(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jobs/gone", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"title":"Not Found","status":404,"detail":"job not found"}`)
	})
	mux.HandleFunc("POST /jobs/done/cancel", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"title":"Conflict","status":409,"detail":"job is completed"}`)
	})
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "failed", r.URL.Query().Get("status"))
		require.Equal(t, "5", r.URL.Query().Get("limit"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jobs":[{"id":"a","status":"failed","progress":"1/13","address":"1 Main St"}],"next_cursor":"c2"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := apiclient.New(srv.URL + "/")
	require.NoError(t, err)
	ctx := context.Background()

	_, err = c.Job(ctx, "gone")
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, err = c.Cancel(ctx, "done")
	require.ErrorIs(t, err, domain.ErrConflict)
	require.ErrorContains(t, err, "job is completed")
	page, err := c.List(ctx, apiclient.ListOptions{Status: "failed", Limit: 5})
	require.NoError(t, err)
	require.Equal(t, "c2", page.NextCursor)
	require.Equal(t, "1 Main St", page.Jobs[0].Address)

	srv.Close()
	_, err = c.Job(ctx, "a")
	require.True(t, errors.Is(err, apiclient.ErrUnreachable), "%v", err)
}

func TestNewRefusesABadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "localhost:8080", "http://"} {
		_, err := apiclient.New(u)
		require.Error(t, err, u)
	}
}
