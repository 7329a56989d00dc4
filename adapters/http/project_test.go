package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

var adu = map[string]any{"use": "  single-family dwelling ", "scope": "adu", "stories": 1,
	"floor_area_sqft": 800, "description": "Detached ADU in the rear yard"}

// projectOf reads the project of a job, as GET /jobs/{id} shows it.
func projectOf(t *testing.T, res response) map[string]any {
	t.Helper()
	var v struct {
		Project map[string]any `json:"project"`
	}
	res.json(t, &v)
	return v.Project
}

func TestSubmitProjectRoundTrip(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "project": adu})
	want := map[string]any{"use": "single-family dwelling", "scope": "adu", "stories": 1.0,
		"floor_area_sqft": 800.0, "description": "Detached ADU in the rear yard"}
	require.Equal(t, want, projectOf(t, e.do(http.MethodGet, "/jobs/"+v.ID, nil)), "trimmed and stored")

	var list struct {
		Jobs []struct {
			Project map[string]any `json:"project"`
		} `json:"jobs"`
	}
	e.do(http.MethodGet, "/jobs", nil).json(t, &list)
	require.Equal(t, want, list.Jobs[0].Project)

	l := e.claim(v.ID)
	e.saveSection(l, domain.JurisdictionKey, domain.SectionCompleted)
	e.finish(l, domain.JobFailed, "sections failed")
	finished := e.getJob(v.ID)
	var report struct {
		Job          struct{ Project map[string]any } `json:"job"`
		ResearchedAt string                           `json:"researched_at"`
	}
	e.do(http.MethodGet, "/jobs/"+v.ID+"/report", nil).json(t, &report)
	require.Equal(t, want, report.Job.Project)
	var job struct {
		FinishedAt string `json:"finished_at"`
	}
	e.do(http.MethodGet, "/jobs/"+finished.ID, nil).json(t, &job)
	require.NotEmpty(t, job.FinishedAt)
	require.Equal(t, job.FinishedAt, report.ResearchedAt, "an ended job was researched when it finished")

	md := e.do(http.MethodGet, "/jobs/"+v.ID+"/report", nil, "Accept: text/markdown")
	require.Contains(t, string(md.body), "- Project: single-family dwelling; scope adu; 1 story; 800 sq ft\n")
	require.Contains(t, string(md.body), "- Project description: Detached ADU in the rear yard\n")
	require.Contains(t, string(md.body), "- Researched: ")

	bare := e.submit(map[string]any{"address": address})
	require.Nil(t, projectOf(t, e.do(http.MethodGet, "/jobs/"+bare.ID, nil)), "no project, none shown")
}

func TestSubmitProjectErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name     string
		project  map[string]any
		location string
		message  string
	}{
		{"unknown scope", map[string]any{"scope": "demolition"}, "body.project.scope", "adu"},
		{"zero stories", map[string]any{"stories": 0}, "body.project.stories", ">= 1"},
		{"too many stories", map[string]any{"stories": 201}, "body.project.stories", "<= 200"},
		{"fractional stories", map[string]any{"stories": 1.5}, "body.project.stories", "integer"},
		{"negative floor area", map[string]any{"floor_area_sqft": -1}, "body.project.floor_area_sqft", ">= 1"},
		{"floor area too large", map[string]any{"floor_area_sqft": 10_000_001}, "body.project.floor_area_sqft", "<= 1e+07"},
		{"use too long", map[string]any{"use": strings.Repeat("a", 201)}, "body.project.use", "length"},
		{"control character in use", map[string]any{"use": "office\u0007"}, "body.project.use", "control characters"},
		{"description too long", map[string]any{"description": strings.Repeat("a", 2001)}, "body.project.description", "length"},
		{"line break in description", map[string]any{"description": "two\nlines"}, "body.project.description", "control characters"},
		{"unknown project field", map[string]any{"height": 30}, "body.project.height", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.do(http.MethodPost, "/jobs", map[string]any{"address": address, "project": tc.project}).
				problem(t, http.StatusUnprocessableEntity)
			require.NotEmpty(t, p.Errors)
			require.Equal(t, tc.location, p.Errors[0].Location)
			require.Contains(t, p.Errors[0].Message, tc.message)
		})
	}
	require.Empty(t, e.listJobs("").Jobs, "no refused request created a job")
}

func TestIdempotencyKeyCoversProject(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"address": address, "project": adu}
	first := e.submit(body, "Idempotency-Key: key-p")
	again := e.submit(body, "Idempotency-Key: key-p")
	require.Equal(t, first.ID, again.ID, "same key, same project: the same job")

	other := map[string]any{"address": address, "project": map[string]any{"use": "duplex", "scope": "new"}}
	p := e.do(http.MethodPost, "/jobs", other, "Idempotency-Key: key-p").problem(t, http.StatusUnprocessableEntity)
	require.Contains(t, p.Detail, "Idempotency-Key")
	p = e.do(http.MethodPost, "/jobs", map[string]any{"address": address}, "Idempotency-Key: key-p").
		problem(t, http.StatusUnprocessableEntity)
	require.Contains(t, p.Detail, "Idempotency-Key", "dropping the project is a different request too")
	require.Len(t, e.listJobs("").Jobs, 1)
}
