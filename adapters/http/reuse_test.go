package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

func withDefaultReuse(on bool) option {
	return func(_ *httpapi.Config, sc *app.ServiceConfig) { sc.DefaultReuse = on }
}

// reuseOf reads the job's reuse as GET /jobs/{id} shows it.
func (e *env) reuseOf(id string) bool {
	e.t.Helper()
	res := e.do(http.MethodGet, "/jobs/"+id, nil)
	require.Equal(e.t, http.StatusOK, res.StatusCode)
	var v struct {
		Reuse *bool `json:"reuse"`
	}
	res.json(e.t, &v)
	require.NotNil(e.t, v.Reuse, "the job always says whether it reuses: %s", res.body)
	return *v.Reuse
}

func TestSubmitReuse(t *testing.T) {
	for _, def := range []bool{true, false} {
		e := newEnv(t, withDefaultReuse(def))
		require.Equal(t, def, e.reuseOf(e.submit(map[string]any{"address": address}).ID), "unsaid: the server's default")
		require.False(t, e.reuseOf(e.submit(map[string]any{"address": address, "reuse": false}).ID))
		require.True(t, e.reuseOf(e.submit(map[string]any{"address": address, "reuse": true}).ID))
	}

	e := newEnv(t, withDefaultReuse(true))
	first := e.submit(map[string]any{"address": address, "reuse": false}, "Idempotency-Key: r1")
	again := e.submit(map[string]any{"address": address, "reuse": false}, "Idempotency-Key: r1")
	require.Equal(t, first.ID, again.ID)
	res := e.do(http.MethodPost, "/jobs", map[string]any{"address": address}, "Idempotency-Key: r1")
	res.problem(t, http.StatusUnprocessableEntity)
	e.do(http.MethodPost, "/jobs", map[string]any{"address": address, "reuse": "no"}).problem(t, http.StatusUnprocessableEntity)
}

func TestReportShowsReusedSection(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"energy_code"}})
	l := e.claim(v.ID)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	researched := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	spec, _ := domain.LookupSection("energy_code")
	s := domain.NewSectionResult(spec)
	s.Status, s.Summary, s.Outcome, s.Provider, s.Model = domain.SectionCompleted, "Title 24 Part 6.", domain.OutcomeFound, "fake", "stub"
	s.FinishedAt = &researched
	reused := domain.Reused(s, "0195f0a0-0000-7000-8000-000000000001", researched.Add(time.Hour))
	require.NoError(t, e.store.SaveSection(t.Context(), l, reused))

	res := e.do(http.MethodGet, "/jobs/"+v.ID+"/report", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	var report struct {
		Sections []struct {
			Key          string     `json:"key"`
			ReusedFrom   string     `json:"reused_from"`
			LastVerified *time.Time `json:"last_verified"`
		} `json:"sections"`
	}
	res.json(t, &report)
	require.Equal(t, "energy_code", report.Sections[1].Key)
	require.Equal(t, "0195f0a0-0000-7000-8000-000000000001", report.Sections[1].ReusedFrom)
	require.True(t, researched.Equal(*report.Sections[1].LastVerified))
	require.Empty(t, report.Sections[0].ReusedFrom)

	md := e.do(http.MethodGet, "/jobs/"+v.ID+"/report", nil, "Accept: text/markdown")
	require.Contains(t, string(md.body), "_Reused from job 0195f0a0-0000-7000-8000-000000000001, last verified 2026-11-20T09:00:00Z._")
}
