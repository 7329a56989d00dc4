package app_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// placedIn answers like good, and the jurisdiction section finds city.
func placedIn(city string) *scripted {
	return &scripted{answer: func(_ context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		resp := good(req)
		if req.Section.Key != domain.JurisdictionKey {
			return resp, nil
		}
		var body map[string]any
		_ = json.Unmarshal([]byte(resp.Content), &body)
		body["jurisdiction"] = map[string]any{"city": city, "county": "Sangamon", "state": "Illinois",
			"official_domains": []string{"springfield.il.us"}}
		b, _ := json.Marshal(body)
		resp.Content = string(b)
		return resp, nil
	}}
}

func ptr[T any](v T) *T { return &v }

// run submits a job for address and runs it to its end.
func (e *env) run(t *testing.T, address string, reuse *bool) domain.Report {
	t.Helper()
	job, _, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: address, Provider: "scripted", Reuse: reuse})
	require.NoError(t, err)
	done, err := e.w.Work(context.Background(), job.ID, false)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status, done.Error)
	return e.report(t, job.ID)
}

func (e *env) calls() int {
	e.llm.mu.Lock()
	defer e.llm.mu.Unlock()
	return len(e.llm.calls)
}

func wideSections() map[string]bool {
	wide := map[string]bool{}
	for _, s := range domain.Catalogue() {
		if s.JurisdictionWide {
			wide[s.Key] = true
		}
	}
	return wide
}

func withReuse(cfg *app.WorkerConfig) { cfg.ReuseTTL = app.DefaultReuseTTL }

func TestReuseSecondAddressInTheSameCity(t *testing.T) {
	e := newEnv(t, placedIn("Springfield"), withReuse)
	first := e.run(t, "1 Main St, Springfield, IL", ptr(true))
	require.Equal(t, 13, e.calls())
	byKey := map[string]domain.SectionResult{}
	for _, s := range first.Sections {
		byKey[s.Key] = s
	}

	second := e.run(t, "200 Oak Ave, Springfield, IL", ptr(true))
	wide := wideSections()
	require.Equal(t, 13+13-len(wide), e.calls(), "the second job calls for the sections of its parcel only")
	for _, s := range second.Sections {
		require.Equal(t, domain.SectionCompleted, s.Status, s.Key)
		if !wide[s.Key] {
			require.Empty(t, s.ReusedFrom, s.Key)
			require.Positive(t, s.Attempts, s.Key)
			continue
		}
		orig := byKey[s.Key]
		require.Equal(t, first.Job.ID, s.ReusedFrom, s.Key)
		require.NotNil(t, s.LastVerified, s.Key)
		require.True(t, orig.FinishedAt.Equal(*s.LastVerified), "%s: last_verified is when the first job researched it", s.Key)
		require.Equal(t, domain.Usage{}, s.Usage, "%s costs nothing", s.Key)
		require.Zero(t, s.Attempts, s.Key)
		require.Equal(t, orig.Summary, s.Summary, s.Key)
		require.Equal(t, orig.Findings, s.Findings, s.Key)
	}

	// Its events show each reused section started, then completed.
	events, err := e.store.Events(context.Background(), second.Job.ID, 0, 0)
	require.NoError(t, err)
	seen := map[string][]string{}
	for _, ev := range events {
		if ev.Type == domain.EventSection {
			seen[ev.Section] = append(seen[ev.Section], ev.Status)
		}
	}
	for key := range wide {
		require.Equal(t, []string{"running", "completed"}, seen[key], key)
	}

	// A third job reuses too, naming the job that did the research.
	third := e.run(t, "3 Elm St, Springfield, IL", ptr(true))
	for _, s := range third.Sections {
		if wide[s.Key] {
			require.Equal(t, first.Job.ID, s.ReusedFrom, s.Key)
		}
	}
}

func TestReuseNot(t *testing.T) {
	cases := map[string]struct {
		tune        func(*app.WorkerConfig)
		secondCity  string
		secondReuse *bool
	}{
		"reuse false":              {withReuse, "Springfield", ptr(false)},
		"reuse unset, default off": {withReuse, "Springfield", nil},
		"TTL 0":                    {nil, "Springfield", ptr(true)},
		"another city":             {withReuse, "Chatham", ptr(true)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			llm := placedIn("Springfield")
			e := newEnv(t, llm, c.tune)
			e.run(t, "1 Main St, Springfield, IL", ptr(true))
			e.llm.answer = placedIn(c.secondCity).answer
			second := e.run(t, "200 Oak Ave, Springfield, IL", c.secondReuse)
			require.Equal(t, 26, e.calls(), "the second job researches every section")
			for _, s := range second.Sections {
				require.Empty(t, s.ReusedFrom, s.Key)
			}
		})
	}
}

func TestReuseIsPartOfTheIdempotentRequest(t *testing.T) {
	e := newEnv(t, placedIn("Springfield"), withReuse)
	submit := func(reuse *bool) (domain.Job, bool, error) {
		return e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield, IL",
			Provider: "scripted", Reuse: reuse, IdempotencyKey: "k1"})
	}
	job, _, err := submit(ptr(false))
	require.NoError(t, err)
	require.False(t, job.Reuse)
	again, existed, err := submit(ptr(false))
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, job.ID, again.ID)
	_, _, err = submit(ptr(true))
	require.ErrorIs(t, err, domain.ErrIdempotencyMismatch)
	// The service's default (off here) is what an unsaid reuse means.
	again, existed, err = submit(nil)
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, job.ID, again.ID)
}
