package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/providerfake"
)

// The sections that depend only on the jurisdiction (the catalogue's
// JurisdictionWide ones), which a second job of the same city reuses.
var wideSections = []string{"adopted_codes", "fire_life_safety", "accessibility", "energy_code", "permitting_process"}

// reusedReport is the JSON report as the reuse tests read it.
type reusedReport struct {
	Job struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Reuse  bool   `json:"reuse"`
	} `json:"job"`
	Sections []struct {
		Key          string     `json:"key"`
		Status       string     `json:"status"`
		ReusedFrom   string     `json:"reused_from"`
		LastVerified *time.Time `json:"last_verified"`
		FinishedAt   *time.Time `json:"finished_at"`
		Attempts     int        `json:"attempts"`
		LatencyMS    int64      `json:"latency_ms"`
		Usage        struct {
			InputTokens int64 `json:"input_tokens"`
		} `json:"usage"`
	} `json:"sections"`
}

// checkJSON runs check --format json with args and returns the report.
func checkJSON(t *testing.T, env []string, args ...string) reusedReport {
	t.Helper()
	r := run(t, env, append([]string{"check", "--format", "json"}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	var rep reusedReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.Equal(t, checkJobID(r.stderr), rep.Job.ID)
	require.Equal(t, "completed", rep.Job.Status)
	return rep
}

// fakeCalls reads the fake provider's call log: the sections called for
// each job.
func fakeCalls(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	calls := map[string][]string{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		require.Len(t, f, 3, line)
		calls[f[0]] = append(calls[f[0]], f[1])
	}
	return calls
}

// TestReuseSecondAddressInTheSameCity: with the fake provider at 300 ms a
// call, a second address in San Jose completes the five jurisdiction-wide
// sections with no provider call for them, each naming the first job and
// when it researched the section; --reuse=false (and CODECHECK_REUSE=0)
// research every section again; another city reuses nothing.
func TestReuseSecondAddressInTheSameCity(t *testing.T) {
	callLog := filepath.Join(t.TempDir(), "calls.log")
	env := sqliteEnv(t, "CODECHECK_FAKE_LLM_LOG="+callLog, "CODECHECK_FAKE_LLM_LATENCY=300ms")
	first := checkJSON(t, env, "--provider", "fake", "1 Main St, San Jose, CA 95113")
	require.True(t, first.Job.Reuse, "reuse is on by default")
	second := checkJSON(t, env, "--provider", "fake", "200 E Santa Clara St, San Jose, CA 95113")

	calls := fakeCalls(t, callLog)
	require.Len(t, calls[first.Job.ID], 13)
	require.Len(t, calls[second.Job.ID], 13-len(wideSections), "the second job calls for the parcel's sections only")
	for _, key := range wideSections {
		require.NotContains(t, calls[second.Job.ID], key)
	}
	researched := map[string]*time.Time{}
	for _, s := range first.Sections {
		require.Empty(t, s.ReusedFrom, s.Key)
		researched[s.Key] = s.FinishedAt
	}
	for _, s := range second.Sections {
		require.Equal(t, "completed", s.Status, s.Key)
		if !slices.Contains(wideSections, s.Key) {
			require.Empty(t, s.ReusedFrom, s.Key)
			continue
		}
		require.Equal(t, first.Job.ID, s.ReusedFrom, s.Key)
		require.NotNil(t, s.LastVerified, s.Key)
		require.True(t, researched[s.Key].Equal(*s.LastVerified), "%s: last_verified is when the first job researched it", s.Key)
		require.Zero(t, s.Attempts, s.Key)
		require.Zero(t, s.LatencyMS, s.Key)
		require.Zero(t, s.Usage.InputTokens, s.Key)
	}
	md := run(t, env, "report", "--job-id", second.Job.ID)
	require.Equal(t, 0, md.code, md.stderr)
	require.Contains(t, md.stdout, "_Reused from job "+first.Job.ID+", last verified ")

	fresh := checkJSON(t, env, "--provider", "fake", "--reuse=false", "300 S 1st St, San Jose, CA 95113")
	require.False(t, fresh.Job.Reuse)
	unsaid := checkJSON(t, append(env, "CODECHECK_REUSE=0"), "--provider", "fake", "400 N 1st St, San Jose, CA 95112")
	require.False(t, unsaid.Job.Reuse)
	elsewhere := checkJSON(t, env, "--provider", "fake", "1 Main St, Santa Clara, CA 95050")
	calls = fakeCalls(t, callLog)
	for _, rep := range []reusedReport{fresh, unsaid, elsewhere} {
		require.Len(t, calls[rep.Job.ID], 13, "job %s researches every section", rep.Job.ID)
		for _, s := range rep.Sections {
			require.Empty(t, s.ReusedFrom, s.Key)
		}
	}
}

// sanJoseScript answers like the provider fakes always do, and the
// jurisdiction section finds San Jose, CA with nothing else: the identity
// the fake provider gives the same city, so that only the rules keep its
// simulated sections out.
func sanJoseScript(t *testing.T) providerfake.Script {
	var answer map[string]any
	b, _ := json.Marshal(providerfake.ValidAnswer("jurisdiction"))
	require.NoError(t, json.Unmarshal(b, &answer))
	answer["jurisdiction"] = map[string]any{"city": "San Jose", "county": "", "state": "CA", "apn": "", "zoning_district": "",
		"official_domains": []string{}, "code_host_url": "", "offices": []any{}}
	jurisdiction, _ := json.Marshal(answer)
	return func(c providerfake.Call) providerfake.Reply {
		if c.Section == "jurisdiction" {
			return providerfake.Reply{Content: string(jurisdiction)}
		}
		return providerfake.Reply{}
	}
}

// TestReuseNeverSimulatedIntoRealResearch: after a fake job in San Jose, a
// Perplexity job (its wire fake) of the same city calls for every section
// and reuses none of the simulated ones; a second Perplexity job there
// reuses the first one's research, not the fake's.
func TestReuseNeverSimulatedIntoRealResearch(t *testing.T) {
	srv := startFake(t, providerfake.Perplexity, sanJoseScript(t))
	env, _ := providerEnv(t, srv, providerKey, "CODECHECK_FAKE_LLM_LATENCY=20ms")
	simulated := checkJSON(t, env, "--provider", "fake", "1 Main St, San Jose, CA 95113")

	real1 := checkJSON(t, env, "--provider", "perplexity", checkAddress)
	perSection := func() map[string]int {
		n := map[string]int{}
		for _, c := range srv.Calls() {
			n[c.Section]++
		}
		return n
	}
	first := perSection()
	for _, s := range real1.Sections {
		require.Empty(t, s.ReusedFrom, "%s: a simulated section was reused into real research", s.Key)
		require.Positive(t, first[s.Key], "%s: the provider was called", s.Key)
	}

	real2 := checkJSON(t, env, "--provider", "perplexity", "1 N 1st St, San Jose, CA 95113")
	second := perSection()
	for _, s := range real2.Sections {
		if slices.Contains(wideSections, s.Key) {
			require.Equal(t, real1.Job.ID, s.ReusedFrom, s.Key)
			require.NotEqual(t, simulated.Job.ID, s.ReusedFrom, s.Key)
			require.Equal(t, first[s.Key], second[s.Key], "%s: no call for a reused section", s.Key)
			continue
		}
		require.Empty(t, s.ReusedFrom, s.Key)
		require.Greater(t, second[s.Key], first[s.Key], "%s: researched again", s.Key)
	}
}

// TestReuseOverTheAPI: on `codecheck serve`, a job posted with
// "reuse": false after another job of the same city calls for all 13
// sections; one posted without it reuses the five jurisdiction-wide ones;
// the report shows reused_from, GET /jobs/{id} the job's reuse.
func TestReuseOverTheAPI(t *testing.T) {
	callLog := filepath.Join(t.TempDir(), "calls.log")
	srv := launchServe(t, "127.0.0.1", sqliteEnv(t, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LOG="+callLog))
	submitAndWait := func(body string) (string, reusedReport) {
		t.Helper()
		resp, b := apiCall(t, "POST", srv.base+"/jobs", body, nil)
		require.Equal(t, 202, resp.StatusCode, string(b))
		var job struct {
			ID    string `json:"id"`
			Reuse bool   `json:"reuse"`
		}
		require.NoError(t, json.Unmarshal(b, &job))
		waitFor(t, "job "+job.ID+" to end", time.Minute, func() bool {
			return getAPIJob(t, srv.base, job.ID).Status == "completed"
		})
		_, b = apiCall(t, "GET", srv.base+"/jobs/"+job.ID+"/report", "", nil)
		var rep reusedReport
		require.NoError(t, json.Unmarshal(b, &rep), string(b))
		require.Equal(t, job.Reuse, rep.Job.Reuse)
		return job.ID, rep
	}
	first, _ := submitAndWait(`{"address":"10 Market St, Denver, CO 80202","llm_provider":"fake"}`)
	fresh, freshRep := submitAndWait(`{"address":"20 Market St, Denver, CO 80202","llm_provider":"fake","reuse":false}`)
	reused, reusedRep := submitAndWait(`{"address":"30 Market St, Denver, CO 80202","llm_provider":"fake"}`)
	require.False(t, freshRep.Job.Reuse)
	require.True(t, reusedRep.Job.Reuse)

	calls := fakeCalls(t, callLog)
	require.Len(t, calls[first], 13)
	require.Len(t, calls[fresh], 13, "reuse: false researches every section")
	require.Len(t, calls[reused], 13-len(wideSections))
	for _, s := range freshRep.Sections {
		require.Empty(t, s.ReusedFrom, s.Key)
	}
	for _, s := range reusedRep.Sections {
		if slices.Contains(wideSections, s.Key) {
			// The newest fit research: the fresh job's.
			require.Equal(t, fresh, s.ReusedFrom, s.Key)
		} else {
			require.Empty(t, s.ReusedFrom, s.Key)
		}
	}
}

// TestReuseThroughTheWorkerAPI: two jobs of one city run by `codecheck
// work` processes that reach the store only through serve's worker API
// (as Modal containers do): the second asks the API for the reusable
// sections and calls the provider for the parcel's eight only.
func TestReuseThroughTheWorkerAPI(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "codecheck.db")
	srv := launchServe(t, "127.0.0.1", baseEnv(t, "DATABASE_URL=sqlite:"+dbPath, "CODECHECK_WORKER_SECRET="+workerSecret))
	st, err := sqlite.Open(t.Context(), dbPath)
	require.NoError(t, err)
	var ids []string
	for _, address := range []string{"1 Main St, San Jose, CA 95113", "2 Main St, San Jose, CA 95113"} {
		job, _, err := st.Create(t.Context(), domain.Job{ID: uuid.Must(uuid.NewV7()).String(), Address: address,
			Provider: "fake", Sections: domain.SectionKeys(), Reuse: true})
		require.NoError(t, err)
		ids = append(ids, job.ID)
	}
	require.NoError(t, st.Close())
	tokens, err := app.NewWorkerTokens(workerSecret, nil)
	require.NoError(t, err)

	callLog := filepath.Join(t.TempDir(), "calls.log")
	for _, id := range ids {
		env := baseEnv(t, "CODECHECK_API_URL="+srv.base, "CODECHECK_WORKER_TOKEN="+tokens.Mint(id, 10*time.Minute),
			"CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=10ms", "CODECHECK_FAKE_LLM_LOG="+callLog)
		res := runIn(t, t.TempDir(), env, "work", "--job-id", id)
		require.Equal(t, 0, res.code, "stdout: %s\nstderr: %s", res.stdout, res.stderr)
		require.Contains(t, res.stdout, "completed (13/13)")
	}
	calls := fakeCalls(t, callLog)
	require.Len(t, calls[ids[0]], 13)
	require.Len(t, calls[ids[1]], 13-len(wideSections))
	_, body := apiCall(t, "GET", srv.base+"/jobs/"+ids[1]+"/report", "", nil)
	var rep reusedReport
	require.NoError(t, json.Unmarshal(body, &rep), string(body))
	for _, s := range rep.Sections {
		if slices.Contains(wideSections, s.Key) {
			require.Equal(t, ids[0], s.ReusedFrom, s.Key)
		} else {
			require.Empty(t, s.ReusedFrom, s.Key)
		}
	}
}
