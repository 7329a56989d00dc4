package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

type jobList struct {
	Jobs       []jobView `json:"jobs"`
	NextCursor string    `json:"next_cursor"`
}

func (e *env) listJobs(query string) jobList {
	e.t.Helper()
	res := e.do(http.MethodGet, "/jobs?"+query, nil)
	require.Equal(e.t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	var l jobList
	res.json(e.t, &l)
	return l
}

func TestListJobsNewestFirstInPages(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for range 5 {
		ids = append(ids, e.submit(map[string]any{"address": address}).ID)
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 3)
		l := e.listJobs("limit=2&cursor=" + url.QueryEscape(cursor))
		require.LessOrEqual(t, len(l.Jobs), 2)
		for _, j := range l.Jobs {
			seen = append(seen, j.ID)
			require.Equal(t, "0/13", j.Progress)
		}
		if cursor = l.NextCursor; cursor == "" {
			break
		}
	}
	require.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, seen)

	require.Len(t, e.listJobs("").Jobs, 5, "default limit 20")
}

func TestListJobsByStatus(t *testing.T) {
	e := newEnv(t)
	a := e.submit(map[string]any{"address": address})
	b := e.submit(map[string]any{"address": address})
	e.do(http.MethodPost, "/jobs/"+a.ID+"/cancel", nil)

	l := e.listJobs("status=canceled")
	require.Len(t, l.Jobs, 1)
	require.Equal(t, a.ID, l.Jobs[0].ID)
	l = e.listJobs("status=pending")
	require.Len(t, l.Jobs, 1)
	require.Equal(t, b.ID, l.Jobs[0].ID)
	require.Empty(t, e.listJobs("status=completed").Jobs)
}

func TestListJobsErrors(t *testing.T) {
	e := newEnv(t)
	for query, location := range map[string]string{
		"status=done":          "query.status",
		"limit=0":              "query.limit",
		"limit=101":            "query.limit",
		"limit=ten":            "query.limit",
		"cursor=not-a-cursor!": "query.cursor",
	} {
		t.Run(query, func(t *testing.T) {
			p := e.do(http.MethodGet, "/jobs?"+query, nil).problem(t, http.StatusUnprocessableEntity)
			if location == "query.cursor" {
				return // the store's message is free-form
			}
			require.Equal(t, location, p.Errors[0].Location)
		})
	}
}
