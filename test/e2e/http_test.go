package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/pgtest"
)

// Tests of `codecheck serve` over HTTP: the REST API, its event stream,
// several servers sharing Postgres, graceful shutdown and auth.

// stores names the databases every serve test runs against.
var stores = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "codecheck.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
}

func serveEnv(t *testing.T, databaseURL string, extra ...string) []string {
	return baseEnv(t, append([]string{"DATABASE_URL=" + databaseURL, "CODECHECK_FAKE_LLM=1",
		"CODECHECK_FAKE_LLM_LATENCY=50ms"}, extra...)...)
}

// A job submitted over HTTP runs on the server's own workers; its event
// stream shows every section and ends by itself after the terminal event;
// a client resumes with Last-Event-ID, live or after the end, and gets
// exactly the events it missed; the report has 13 completed sections with
// sources, as JSON or Markdown.
func TestHTTPJobLifecycle(t *testing.T) {
	for _, db := range stores {
		t.Run(db.name, func(t *testing.T) {
			srv := launchServe(t, "127.0.0.1", serveEnv(t, db.url(t)))
			job := submitAPIJob(t, srv.base)

			// A client that drops after the first section event and
			// resumes (most likely while the job still runs).
			early := openEvents(t, srv.base, job.ID, "")
			var head []sseMessage
			for len(head) == 0 || head[len(head)-1].Event != "section" {
				m, ok := early.next()
				require.True(t, ok, "stream ended before any section event")
				head = append(head, m)
			}
			early.close()
			resumed := followEvents(t, srv.base, job.ID, strconv.FormatInt(head[len(head)-1].ID, 10))

			all := followEvents(t, srv.base, job.ID, "")
			requireCompleteStream(t, job.ID, all)
			requireSameEvents(t, all, append(head, resumed...))

			// Resuming after the end from a middle id replays the rest and
			// ends; from the last (terminal) id it is a 204 No Content,
			// which stops EventSource's reconnects.
			mid := len(all) / 2
			requireSameEvents(t, all[mid+1:], followEvents(t, srv.base, job.ID, strconv.FormatInt(all[mid].ID, 10)))
			resp, body := apiCall(t, http.MethodGet, srv.base+"/jobs/"+job.ID+"/events", "",
				http.Header{"Last-Event-ID": {strconv.FormatInt(all[len(all)-1].ID, 10)}})
			require.Equal(t, http.StatusNoContent, resp.StatusCode, string(body))
			require.Empty(t, body)

			got := getAPIJob(t, srv.base, job.ID)
			require.Equal(t, "completed", got.Status)
			require.Equal(t, "13/13", got.Progress)

			requireFullAPIReport(t, getAPIReport(t, srv.base, job.ID), job.ID)

			resp, md := apiCall(t, http.MethodGet, srv.base+"/jobs/"+job.ID+"/report", "", http.Header{"Accept": {"text/markdown"}})
			require.Equal(t, http.StatusOK, resp.StatusCode, string(md))
			require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/markdown"), resp.Header.Get("Content-Type"))
			require.True(t, strings.HasPrefix(string(md), "# Building code report: "+testAddress), string(md))
			require.Contains(t, string(md), "## 1. Jurisdiction")
			require.Contains(t, string(md), "## 13. Permitting process")
			require.Contains(t, string(md), "[SIMULATED]")
		})
	}
}

// requireCompleteStream checks a whole event stream of a job that completed
// on its first attempt: ids 1, 2, 3..., for each section one started
// (running) event and then one completed event, progress never going back,
// and the terminal job event last.
func requireCompleteStream(t *testing.T, jobID string, events []sseMessage) {
	t.Helper()
	require.NotEmpty(t, events)
	sections, started := map[string]int{}, map[string]int{}
	lastDone := 0
	for i, e := range events {
		require.Equal(t, int64(i+1), e.ID, "event ids count the job's events")
		d := e.data(t)
		require.Equal(t, jobID, d.JobID)
		done := doneCount(t, d.Progress)
		require.GreaterOrEqual(t, done, lastDone, "progress went back at event %d", e.ID)
		lastDone = done
		switch {
		case e.Event == "section" && d.Status == "running":
			require.Zero(t, sections[d.Key], "%s started after it completed", d.Key)
			started[d.Key]++
		case e.Event == "section":
			require.Equal(t, "completed", d.Status, d.Key)
			require.Equal(t, 1, started[d.Key], "%s completed without a started event", d.Key)
			sections[d.Key]++
		case e.Event == "job":
		default:
			t.Fatalf("unexpected event type %q", e.Event)
		}
	}
	for _, key := range domain.SectionKeys() {
		require.Equal(t, 1, sections[key], "completed events for %s", key)
		require.Equal(t, 1, started[key], "started events for %s", key)
	}
	require.Len(t, sections, 13)
	last := events[len(events)-1]
	require.Equal(t, "job", last.Event)
	d := last.data(t)
	require.Equal(t, "completed", d.Status)
	require.Equal(t, "13/13", d.Progress)
}

func requireSameEvents(t *testing.T, want, got []sseMessage) {
	t.Helper()
	require.Equal(t, len(want), len(got), "number of events")
	for i := range want {
		require.Equal(t, want[i].ID, got[i].ID)
		require.Equal(t, want[i].Event, got[i].Event, "event %d", want[i].ID)
		require.JSONEq(t, want[i].Data, got[i].Data, "event %d", want[i].ID)
	}
}

func requireFullAPIReport(t *testing.T, rep apiReport, jobID string) {
	t.Helper()
	require.Equal(t, jobID, rep.Job.ID)
	require.Equal(t, "completed", rep.Job.Status)
	require.Equal(t, "13/13", rep.Job.Progress)
	require.Len(t, rep.Sections, 13)
	for i, s := range rep.Sections {
		require.Equal(t, domain.SectionKeys()[i], s.Key, "report order")
		require.Equal(t, "completed", s.Status, s.Key)
		require.NotEmpty(t, s.Summary, s.Key)
		require.NotEmpty(t, s.Sources, s.Key)
		require.NotNil(t, s.FinishedAt, s.Key)
	}
}

// Two servers share one Postgres. A job submitted to A is run by A's
// workers; a client of B follows it live: B's stream can only learn of A's
// writes through LISTEN/NOTIFY (streams never poll), and it ends with the
// job's completion.
func TestHTTPServeEventsFromAnotherProcess(t *testing.T) {
	databaseURL := pgtest.URL(t)
	// Sections one at a time, 500ms each: the job runs for about 6.5s, time
	// enough for B to start while A works.
	env := serveEnv(t, databaseURL, "CODECHECK_FAKE_LLM_LATENCY=500ms", "CODECHECK_SECTION_CONCURRENCY=1")
	a := launchServe(t, "127.0.0.1", env)
	job := submitAPIJob(t, a.base)
	waitFor(t, "A to claim the job", 30*time.Second, func() bool {
		return getAPIJob(t, a.base, job.ID).Status == "processing"
	})

	// B starts while A holds the job's lease: B's workers cannot take it.
	b := launchServe(t, "127.0.0.1", env)
	stream := openEvents(t, b.base, job.ID, "")
	opened := time.Now() // B read the stored events before it answered
	events := stream.readAll()
	requireCompleteStream(t, job.ID, events)

	var live int
	for _, e := range events {
		var d struct {
			At time.Time `json:"at"`
		}
		require.NoError(t, json.Unmarshal([]byte(e.Data), &d))
		if d.At.After(opened) {
			live++
		}
	}
	require.GreaterOrEqual(t, live, 2, "B must deliver events recorded after its stream started (A's section events and the completion)")
	require.NotContains(t, b.output.String(), "LISTEN unavailable", "B must be woken by NOTIFY, not by the polling fallback")

	rep := getAPIReport(t, b.base, job.ID)
	requireFullAPIReport(t, rep, job.ID)
	require.Equal(t, 1, rep.Job.Attempt, "nobody took the job over from A")
	finishedBy := fmt.Sprintf("/%d job_id=%s", a.cmd.Process.Pid, job.ID)
	// A logs the finish just after the commit that ended B's stream.
	waitFor(t, "A's log to show A finished the job", 10*time.Second, func() bool {
		return strings.Contains(a.output.String(), "msg=\"job finished\" worker=") &&
			strings.Contains(a.output.String(), finishedBy)
	})
	require.NotContains(t, b.output.String(), "job_id="+job.ID, "B did no work on the job")
}

// SIGTERM while a job runs: serve stops accepting, lets the running
// sections finish, gives the job back (pending) and exits 0 within the
// drain period. A restarted server completes the job without asking the
// provider again for the sections finished before the stop.
func TestServeSIGTERMReleasesRunningJob(t *testing.T) {
	for _, db := range stores {
		t.Run(db.name, func(t *testing.T) {
			const drain = 10 * time.Second
			callLog := filepath.Join(t.TempDir(), "calls.log")
			env := serveEnv(t, db.url(t), "CODECHECK_FAKE_LLM_LATENCY=300ms", "CODECHECK_SECTION_CONCURRENCY=2",
				"CODECHECK_DRAIN_TIMEOUT="+drain.String(), "CODECHECK_FAKE_LLM_LOG="+callLog)
			srv := launchServe(t, "127.0.0.1", env)
			job := submitAPIJob(t, srv.base)
			var atStop apiJob
			waitFor(t, "three finished sections", 30*time.Second, func() bool {
				atStop = getAPIJob(t, srv.base, job.ID)
				return doneCount(t, atStop.Progress) >= 3
			})
			require.Equal(t, "processing", atStop.Status, "the job must still run when SIGTERM comes")
			require.Less(t, doneCount(t, atStop.Progress), 13)

			require.Equal(t, 0, srv.terminate(drain), srv.output.String())
			require.Contains(t, srv.output.String(), "job released to pending")

			// Between the two servers, read the job straight from the store.
			r := run(t, env, "report", "--job-id", job.ID, "--format", "json")
			require.Equal(t, 0, r.code, r.stderr)
			var stopped apiReport
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &stopped), r.stdout)
			require.Contains(t, []string{"pending", "completed"}, stopped.Job.Status, "never left processing")
			require.GreaterOrEqual(t, doneCount(t, stopped.Job.Progress), doneCount(t, atStop.Progress),
				"running sections finish during the drain and stay saved")
			completedBefore := map[string]bool{}
			for _, s := range stopped.Sections {
				require.NotEqual(t, "running", s.Status, s.Key)
				if s.Status == "completed" {
					completedBefore[s.Key] = true
				}
			}

			again := launchServe(t, "127.0.0.1", env)
			events := followEvents(t, again.base, job.ID, "")
			last := events[len(events)-1].data(t)
			require.Equal(t, "completed", last.Status)
			require.Equal(t, "13/13", last.Progress)
			rep := getAPIReport(t, again.base, job.ID)
			requireFullAPIReport(t, rep, job.ID)
			wantAttempt := 2 // the restarted server ran the released job again
			if stopped.Job.Status == "completed" {
				wantAttempt = 1 // the drain finished it
			}
			require.Equal(t, wantAttempt, rep.Job.Attempt)

			var secondAttempt int
			for _, c := range readCalls(t, callLog) {
				if c.job == job.ID && c.attempt == strconv.Itoa(wantAttempt) && wantAttempt > 1 {
					require.False(t, completedBefore[c.section], "section %s finished before the stop was asked again", c.section)
					secondAttempt++
				}
			}
			require.Equal(t, 13-len(completedBefore), secondAttempt)
		})
	}
}

// Without API keys serve refuses an address other machines can reach; with
// keys it serves there, /jobs needs the bearer key, health stays open.
func TestServeAuth(t *testing.T) {
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "codecheck.db")

	t.Run("public address without keys", func(t *testing.T) {
		env := serveEnv(t, dbURL, "CODECHECK_ADDR=0.0.0.0:"+freePort(t))
		r := run(t, env, "serve")
		require.Equal(t, 2, r.code, "a configuration error: %s", r.stderr)
		require.Contains(t, r.stderr, "CODECHECK_API_KEYS")
		require.Equal(t, 1, strings.Count(strings.TrimSpace(r.stderr), "\n")+1, "one line: %q", r.stderr)
	})

	t.Run("public address with keys", func(t *testing.T) {
		const key = "e2e-key-5f1c9a"
		srv := launchServe(t, "0.0.0.0", serveEnv(t, dbURL, "CODECHECK_API_KEYS=other-key, "+key, "CODECHECK_LOG_LEVEL=debug"))
		body := `{"address":"` + testAddress + `","llm_provider":"fake"}`
		for _, c := range []struct {
			name, method, path, body string
			header                   http.Header
		}{
			{"submit without a key", http.MethodPost, "/jobs", body, nil},
			{"submit with a wrong key", http.MethodPost, "/jobs", body, http.Header{"Authorization": {"Bearer k2"}}},
			{"submit with another scheme", http.MethodPost, "/jobs", body, http.Header{"Authorization": {"Basic azE6"}}},
			{"list without a key", http.MethodGet, "/jobs", "", nil},
			{"events without a key", http.MethodGet, "/jobs/0190c6e2-0000-7000-8000-000000000000/events", "", nil},
		} {
			resp, data := apiCall(t, c.method, srv.base+c.path, c.body, c.header)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s: %s", c.name, data)
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), c.name)
			require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer", c.name)
			var problem struct {
				Status int    `json:"status"`
				Title  string `json:"title"`
				Detail string `json:"detail"`
			}
			require.NoError(t, json.Unmarshal(data, &problem), c.name)
			require.Equal(t, http.StatusUnauthorized, problem.Status, c.name)
			require.NotContains(t, string(data), key, "the key never appears in answers")
		}

		resp, data := apiCall(t, http.MethodGet, srv.base+"/healthz", "", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(data))

		resp, data = apiCall(t, http.MethodPost, srv.base+"/jobs", body, http.Header{"Authorization": {"Bearer " + key}})
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
		require.NotContains(t, srv.output.String(), key, "keys never appear in logs")
	})
}
