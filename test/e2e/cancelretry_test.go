package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A job canceled while its sections run: the stream shows sections
// starting, then each unfinished one canceled and the job's end; GET and
// the Markdown report show no section running; the worker's late answers
// change nothing. Retried, the job runs only what the cancel left
// unfinished, on a new attempt, and completes; no completed section is
// asked for again.
func TestHTTPCancelThenRetryResumesOnlyMissing(t *testing.T) {
	for _, db := range stores {
		t.Run(db.name, func(t *testing.T) {
			callLog := filepath.Join(t.TempDir(), "calls.log")
			srv := launchServe(t, "127.0.0.1", serveEnv(t, db.url(t), "CODECHECK_FAKE_LLM_LATENCY=300ms",
				"CODECHECK_SECTION_CONCURRENCY=2", "CODECHECK_FAKE_LLM_LOG="+callLog))
			job := submitAPIJob(t, srv.base)

			// Follow the stream until a section other than jurisdiction has
			// started: the job is mid-way, with sections running.
			stream := openEvents(t, srv.base, job.ID, "")
			var seen []sseMessage
			for {
				m, ok := stream.next()
				require.True(t, ok, "stream ended before sections ran")
				seen = append(seen, m)
				if d := m.data(t); m.Event == "section" && d.Status == "running" && d.Key != "jurisdiction" {
					break
				}
			}
			require.Equal(t, int64(1), seen[0].ID, "ids count this job's events")

			resp, body := apiCall(t, http.MethodPost, srv.base+"/jobs/"+job.ID+"/cancel", "", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			rest := stream.readAll()
			require.NotEmpty(t, rest)
			end := rest[len(rest)-1].data(t)
			require.Equal(t, "job", rest[len(rest)-1].Event)
			require.Equal(t, "canceled", end.Status)
			var canceledEvents int
			for _, m := range rest {
				if d := m.data(t); m.Event == "section" && d.Status == "canceled" {
					canceledEvents++
				}
			}
			require.Positive(t, canceledEvents, "the stream shows unfinished sections canceled")

			completed := map[string]bool{}
			canceledRep := getAPIReport(t, srv.base, job.ID)
			require.Equal(t, "canceled", canceledRep.Job.Status)
			for _, s := range canceledRep.Sections {
				require.Contains(t, []string{"completed", "canceled"}, s.Status, s.Key)
				completed[s.Key] = s.Status == "completed"
			}
			require.Less(t, doneCount(t, canceledRep.Job.Progress), 13)
			_, md := apiCall(t, http.MethodGet, srv.base+"/jobs/"+job.ID+"/report", "", http.Header{"Accept": {"text/markdown"}})
			require.NotContains(t, string(md), "running")

			// The canceled worker stops within a second (its context is
			// canceled, or its next write is refused: the lease is lost);
			// nothing it was researching lands afterwards.
			waitFor(t, "the canceled worker to stop", 10*time.Second, func() bool {
				out := srv.output.String()
				return strings.Contains(out, "job stopped: it was canceled") || strings.Contains(out, "lease lost")
			})
			for _, s := range getAPIReport(t, srv.base, job.ID).Sections {
				require.Equal(t, completed[s.Key], s.Status == "completed", "%s changed after the cancel", s.Key)
			}

			resp, body = apiCall(t, http.MethodPost, srv.base+"/jobs/"+job.ID+"/retry", "", nil)
			require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
			var retried apiJob
			require.NoError(t, json.Unmarshal(body, &retried))
			// The answer shows the job as it is now: pending, or already
			// claimed by one of the server's workers.
			require.Contains(t, []string{"pending", "processing"}, retried.Status)

			last := strconv.FormatInt(rest[len(rest)-1].ID, 10)
			after := followEvents(t, srv.base, job.ID, last)
			require.NotEmpty(t, after)
			require.Equal(t, rest[len(rest)-1].ID+1, after[0].ID, "resuming after the job's last event id")
			require.Equal(t, "completed", after[len(after)-1].data(t).Status)
			rep := getAPIReport(t, srv.base, job.ID)
			requireFullAPIReport(t, rep, job.ID)
			require.Equal(t, 2, rep.Job.Attempt)

			asked := map[string]int{}
			for _, c := range readCalls(t, callLog) {
				if c.job != job.ID || c.attempt != "2" {
					continue
				}
				require.False(t, completed[c.section], "section %s completed before the cancel was asked again", c.section)
				asked[c.section]++
			}
			var missing int
			for _, done := range completed {
				if !done {
					missing++
				}
			}
			require.Len(t, asked, missing, "the retry asked for exactly the sections the cancel left unfinished")
		})
	}
}

// An idempotent replay is marked, and every answer carries a request id.
func TestHTTPReplayAndRequestID(t *testing.T) {
	srv := launchServe(t, "127.0.0.1", serveEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "codecheck.db")))
	body := `{"address":"` + testAddress + `","llm_provider":"fake"}`
	key := http.Header{"Idempotency-Key": {"e2e-replay"}}
	first, _ := apiCall(t, http.MethodPost, srv.base+"/jobs", body, key)
	require.Equal(t, http.StatusAccepted, first.StatusCode)
	require.Empty(t, first.Header.Get("Idempotent-Replayed"))
	require.NotEmpty(t, first.Header.Get("X-Request-Id"))
	again, _ := apiCall(t, http.MethodPost, srv.base+"/jobs", body, key)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))

	resp, raw := apiCall(t, http.MethodGet, srv.base+"/jobs/nope", "", http.Header{"X-Request-Id": {"e2e-42"}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "e2e-42", resp.Header.Get("X-Request-Id"))
	var p struct {
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	}
	require.NoError(t, json.Unmarshal(raw, &p))
	require.Equal(t, "not-found", p.Code)
	require.Equal(t, "e2e-42", p.RequestID)
}
