package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

func TestSubmitAndGetJob(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": "  " + address + "  "})
	require.NotEmpty(t, v.ID)
	require.Equal(t, address, v.Address, "address is trimmed")
	require.Equal(t, "fake", v.LLMProvider, "the default provider")
	require.Equal(t, "pending", v.Status)
	require.Equal(t, "0/13", v.Progress)
	require.Len(t, v.Sections, 13)

	got := e.getJob(v.ID)
	require.Equal(t, v.ID, got.ID)
	for i, key := range domain.SectionKeys() {
		require.Equal(t, key, got.Sections[i].Key)
		require.Equal(t, "pending", got.Sections[i].Status)
		require.NotEmpty(t, got.Sections[i].Title)
	}
}

func TestSubmitWithSectionsAndProgress(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "llm_provider": "fake", "sections": []string{"zoning_use", "energy_code"}})
	require.Equal(t, "0/3", v.Progress, "jurisdiction is always included")

	l := e.claim(v.ID)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.saveSection(l, "zoning_use", domain.SectionFailed)
	got := e.getJob(v.ID)
	require.Equal(t, "processing", got.Status)
	require.Equal(t, 1, got.Attempt)
	require.Equal(t, "1/3", got.Progress)
	require.Equal(t, []string{"completed", "failed", "pending"},
		[]string{got.Sections[0].Status, got.Sections[1].Status, got.Sections[2].Status})
	require.Equal(t, "provider failed", got.Sections[1].Error)
}

func TestSubmitErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name     string
		body     any
		status   int
		location string
		message  string
	}{
		{"malformed JSON", `{"address": "100 Main`, http.StatusBadRequest, "body", ""},
		{"address missing", map[string]any{}, http.StatusUnprocessableEntity, "body", "required property address"},
		{"address too short", map[string]any{"address": "abc"}, http.StatusUnprocessableEntity, "body.address", "length"},
		{"address too long", map[string]any{"address": strings.Repeat("a", 301)}, http.StatusUnprocessableEntity, "body.address", "length"},
		{"address blank after trimming", map[string]any{"address": "        "}, http.StatusUnprocessableEntity, "body.address", "required"},
		{"address with control characters", map[string]any{"address": "100 Main\u0007 St, Springfield"}, http.StatusUnprocessableEntity, "body.address", "control characters"},
		{"unknown provider", map[string]any{"address": address, "llm_provider": "claude"}, http.StatusUnprocessableEntity, "body.llm_provider", "perplexity"},
		{"unconfigured provider", map[string]any{"address": address, "llm_provider": "openai"}, http.StatusUnprocessableEntity, "body.llm_provider", "OPENAI_API_KEY"},
		{"unknown section", map[string]any{"address": address, "sections": []string{"zoning_use", "plumbing"}}, http.StatusUnprocessableEntity, "body.sections[1]", "zoning_use"},
		{"unknown field", map[string]any{"address": address, "priority": 1}, http.StatusUnprocessableEntity, "body.priority", ""},
		{"webhook over http", map[string]any{"address": address, "webhook_url": "http://hooks.example.com/x"}, http.StatusUnprocessableEntity, "body.webhook_url", "https"},
		{"webhook to loopback", map[string]any{"address": address, "webhook_url": "https://127.0.0.1/x"}, http.StatusUnprocessableEntity, "body.webhook_url", "loopback"},
		{"webhook to private network", map[string]any{"address": address, "webhook_url": "https://10.0.0.8/x"}, http.StatusUnprocessableEntity, "body.webhook_url", "private"},
		{"webhook to metadata service", map[string]any{"address": address, "webhook_url": "https://169.254.169.254/latest"}, http.StatusUnprocessableEntity, "body.webhook_url", "link-local"},
		{"webhook to IPv6 loopback", map[string]any{"address": address, "webhook_url": "https://[::1]/x"}, http.StatusUnprocessableEntity, "body.webhook_url", "loopback"},
		{"webhook host resolving to private", map[string]any{"address": address, "webhook_url": "https://intranet.example.com/x"}, http.StatusUnprocessableEntity, "body.webhook_url", "private"},
		{"body too large", fmt.Sprintf(`{"address": %q}`, strings.Repeat("a", 70<<10)), http.StatusRequestEntityTooLarge, "", "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.do(http.MethodPost, "/jobs", tc.body).problem(t, tc.status)
			if tc.location != "" {
				require.NotEmpty(t, p.Errors)
				require.Equal(t, tc.location, p.Errors[0].Location)
				require.Contains(t, p.Errors[0].Message, tc.message)
			} else {
				require.Contains(t, p.Detail, tc.message)
			}
		})
	}
	list := e.listJobs("")
	require.Empty(t, list.Jobs, "no refused request created a job")
}

func TestSubmitAcceptsPublicWebhook(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "webhook_url": "https://hooks.example.com/codecheck"})
	res := e.do(http.MethodGet, "/jobs/"+v.ID, nil)
	require.Contains(t, string(res.body), `"webhook_url":"https://hooks.example.com/codecheck"`)
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"address": address, "sections": []string{"zoning_use"}}
	first := e.submit(body, "Idempotency-Key: key-1")
	again := e.submit(body, "Idempotency-Key: key-1")
	require.Equal(t, first.ID, again.ID, "same key and body: the same job")

	p := e.do(http.MethodPost, "/jobs", map[string]any{"address": address}, "Idempotency-Key: key-1").
		problem(t, http.StatusUnprocessableEntity)
	require.Contains(t, p.Detail, "Idempotency-Key")

	other := e.submit(body, "Idempotency-Key: key-2")
	require.NotEqual(t, first.ID, other.ID)
	nokey := e.submit(body)
	require.NotEqual(t, first.ID, nokey.ID)
	require.Len(t, e.listJobs("").Jobs, 3)

	p = e.do(http.MethodPost, "/jobs", body, "Idempotency-Key: "+strings.Repeat("k", 256)).
		problem(t, http.StatusUnprocessableEntity)
	require.Equal(t, "header.Idempotency-Key", p.Errors[0].Location)
}

func TestIdempotencyKeyReplayShowsCurrentState(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"address": address}
	v := e.submit(body, "Idempotency-Key: k")
	e.claim(v.ID)
	again := e.submit(body, "Idempotency-Key: k")
	require.Equal(t, v.ID, again.ID)
	require.Equal(t, "processing", again.Status)
}

func TestIdempotencyKeyConcurrentDuplicates(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"address": address}
	const n = 16
	ids := make([]string, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			req := e.request(http.MethodPost, "/jobs", body, "Idempotency-Key: same-key")
			<-start
			res, err := e.http.Client().Do(req)
			if err != nil {
				return
			}
			defer res.Body.Close()
			codes[i] = res.StatusCode
			ids[i] = strings.TrimPrefix(res.Header.Get("Location"), "/jobs/")
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.Equal(t, http.StatusAccepted, codes[i])
		require.Equal(t, ids[0], ids[i])
	}
	require.Len(t, e.listJobs("").Jobs, 1, "one job for one key")
}

func TestJobNotFound(t *testing.T) {
	e := newEnv(t)
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/jobs/0192f0c1-0000-7000-8000-00000000dead"},
		{http.MethodGet, "/jobs/0192f0c1-0000-7000-8000-00000000dead/report"},
		{http.MethodGet, "/jobs/0192f0c1-0000-7000-8000-00000000dead/events"},
		{http.MethodPost, "/jobs/0192f0c1-0000-7000-8000-00000000dead/cancel"},
		{http.MethodPost, "/jobs/0192f0c1-0000-7000-8000-00000000dead/retry"},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			p := e.do(r.method, r.path, nil).problem(t, http.StatusNotFound)
			require.Equal(t, "job not found", p.Detail)
		})
	}
}

func TestCancelAndRetry(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use", "energy_code"}})
	l := e.claim(v.ID)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.saveSection(l, "zoning_use", domain.SectionRunning)

	res := e.do(http.MethodPost, "/jobs/"+v.ID+"/cancel", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	var canceled jobView
	res.json(t, &canceled)
	require.Equal(t, "canceled", canceled.Status)
	statuses := func(v jobView) []string {
		var out []string
		for _, s := range v.Sections {
			out = append(out, s.Status)
		}
		return out
	}
	want := []string{"completed", "canceled", "canceled"}
	require.Equal(t, want, statuses(canceled), "no section of a canceled job looks alive")
	require.Equal(t, want, statuses(e.getJob(v.ID)))
	md := e.do(http.MethodGet, "/jobs/"+v.ID+"/report", nil, "Accept: text/markdown")
	require.Equal(t, http.StatusOK, md.StatusCode)
	require.NotContains(t, string(md.body), "running")
	require.Contains(t, string(md.body), "_Status: canceled_")

	p := e.do(http.MethodPost, "/jobs/"+v.ID+"/cancel", nil).problem(t, http.StatusConflict)
	require.Contains(t, p.Detail, "canceled")

	// A canceled job is retried: completed sections kept, the rest pending.
	res = e.do(http.MethodPost, "/jobs/"+v.ID+"/retry", nil)
	require.Equal(t, http.StatusAccepted, res.StatusCode, "body: %s", res.body)
	var again jobView
	res.json(t, &again)
	require.Equal(t, "pending", again.Status)
	require.Equal(t, []string{"completed", "pending", "pending"}, statuses(again))
	require.Equal(t, "1/3", again.Progress)

	pending := e.submit(map[string]any{"address": address})
	e.do(http.MethodPost, "/jobs/"+pending.ID+"/retry", nil).problem(t, http.StatusConflict)

	failed := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	l = e.claim(failed.ID)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.saveSection(l, "zoning_use", domain.SectionFailed)
	e.finish(l, domain.JobFailed, "sections failed: zoning_use")
	require.Equal(t, "failed", e.getJob(failed.ID).Status)

	res = e.do(http.MethodPost, "/jobs/"+failed.ID+"/retry", nil)
	require.Equal(t, http.StatusAccepted, res.StatusCode, "body: %s", res.body)
	var retried jobView
	res.json(t, &retried)
	require.Equal(t, "pending", retried.Status)
	require.Equal(t, "completed", retried.Sections[0].Status, "completed sections are kept")
	require.Equal(t, "pending", retried.Sections[1].Status, "failed sections run again")

	e.finishedJob(t)
}

// finishedJob checks that a completed job can be neither canceled nor
// retried.
func (e *env) finishedJob(t *testing.T) {
	v := e.submit(map[string]any{"address": address, "sections": []string{"jurisdiction"}})
	l := e.claim(v.ID)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.finish(l, domain.JobCompleted, "")
	e.do(http.MethodPost, "/jobs/"+v.ID+"/cancel", nil).problem(t, http.StatusConflict)
	e.do(http.MethodPost, "/jobs/"+v.ID+"/retry", nil).problem(t, http.StatusConflict)
}
