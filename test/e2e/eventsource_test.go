package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// nodeEventSource installs the eventsource npm package (the version pinned
// in eventsource/package-lock.json) into a temporary directory and returns
// it, with follow.mjs beside it. Without node or npm, or with the registry
// out of reach, the test skips saying so, except under CI=true, where it
// fails.
func nodeEventSource(t *testing.T) string {
	t.Helper()
	unavailable := func(msg string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("SKIPPING IS NOT ALLOWED UNDER CI=true: "+msg, args...)
		}
		t.Skipf("SKIP (not a pass): "+msg, args...)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable("%s is not installed: the EventSource test needs Node 20+ and npm", tool)
		}
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "follow.mjs"} {
		b, err := os.ReadFile(filepath.Join("eventsource", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	npm := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	npm.Dir = dir
	if out, err := npm.CombinedOutput(); err != nil {
		unavailable("npm ci of the eventsource package failed (is the npm registry reachable?): %v\n%s", err, out)
	}
	return dir
}

type eventSourceRun struct {
	Connects []struct {
		At          int64  `json:"at"`
		LastEventID string `json:"lastEventID"`
		Status      int    `json:"status"`
	} `json:"connects"`
	Events []struct {
		ID     string `json:"id"`
		Type   string `json:"type"`
		Status string `json:"status"`
	} `json:"events"`
	EndedAt     *int64 `json:"endedAt"`
	Closed      bool   `json:"closed"`
	CloseStatus *int   `json:"closeStatus"`
}

// A standard EventSource client follows a job to its end, reconnects once
// (after the retry: delay the stream asked for), gets 204 No Content and
// stops: two connections in all, not one a second for as long as the page
// stays open.
func TestEventSourceStopsAfterTheJobEnds(t *testing.T) {
	dir := nodeEventSource(t)
	srv := launchServe(t, "127.0.0.1", sqliteEnv(t, "CODECHECK_FAKE_LLM=1"))
	resp, body := apiCall(t, http.MethodPost, srv.base+"/jobs",
		`{"address":"`+testAddress+`","llm_provider":"fake","sections":["zoning_use"]}`, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
	var job apiJob
	require.NoError(t, json.Unmarshal(body, &job))

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", "follow.mjs", srv.base+"/jobs/"+job.ID+"/events", "15000")
	node.Dir = dir
	node.Stderr = os.Stderr
	out, err := node.Output()
	require.NoError(t, err, "node follow.mjs: %s", out)
	var got eventSourceRun
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	t.Logf("eventsource: %s", out)

	require.NotNil(t, got.EndedAt, "the client saw the job's terminal event")
	last := got.Events[len(got.Events)-1]
	require.Equal(t, "job", last.Type)
	require.Equal(t, "completed", last.Status)
	require.True(t, got.Closed, "the client stopped reconnecting by itself")
	require.LessOrEqual(t, len(got.Connects), 2, "at most one connection to follow the job and one more")
	require.Equal(t, http.StatusOK, got.Connects[0].Status)
	if len(got.Connects) == 2 {
		again := got.Connects[1]
		require.Equal(t, last.ID, again.LastEventID, "the reconnect resumes after the terminal event")
		require.Equal(t, http.StatusNoContent, again.Status)
		require.GreaterOrEqual(t, again.At-*got.EndedAt, int64(2500), "the client waited the stream's retry: 3000 ms")
	}
}
