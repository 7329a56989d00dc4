package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// background is the binary running in the background, its output
// collected.
type background struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
}

func startBackground(t *testing.T, env []string, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(binary, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	b.cmd.Env, b.cmd.Stdout, b.cmd.Stderr = env, b.stdout, b.stderr
	require.NoError(t, b.cmd.Start())
	go func() {
		_ = b.cmd.Wait()
		b.code = b.cmd.ProcessState.ExitCode()
		close(b.done)
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

// wait waits for the process to exit and returns its exit code.
func (b *background) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-b.done:
		return b.code
	case <-time.After(timeout):
		t.Fatalf("%v still running after %s; stderr:\n%s", b.cmd.Args, timeout, b.stderr.String())
		return -1
	}
}

// listed reports whether `codecheck list ARGS` printed a line for job id
// with that status.
func listed(t *testing.T, env []string, id, status string, args ...string) bool {
	t.Helper()
	r := run(t, env, append([]string{"list"}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stdout, "ID "), r.stdout)
	return regexp.MustCompile(`(?m)^` + id + `\s+` + status + `\s`).MatchString(r.stdout)
}

// requireListJSON checks that list --format json prints GET /jobs's page
// with job id first.
func requireListJSON(t *testing.T, env []string, id string) {
	t.Helper()
	r := run(t, env, "list", "--format", "json", "--limit", "1")
	require.Equal(t, 0, r.code, r.stderr)
	var page struct {
		Jobs []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page), r.stdout)
	require.Len(t, page.Jobs, 1)
	require.Equal(t, id, page.Jobs[0].ID)
}

// list, watch, cancel and retry on the local store (DATABASE_URL), with
// the job run by other processes on the same SQLite file.
func TestJobsLocal(t *testing.T) {
	env := sqliteEnv(t)
	done := run(t, env, "check", "--provider", "fake", "--sections", "zoning_use", testAddress)
	require.Equal(t, 0, done.code, done.stderr)
	a := checkJobID(done.stderr)

	require.True(t, listed(t, env, a, "completed"))
	require.True(t, listed(t, env, a, "completed", "--status", "completed"))
	require.False(t, listed(t, env, a, "completed", "--status", "failed"))
	requireListJSON(t, env, a)

	w := run(t, env, "watch", a)
	require.Equal(t, 0, w.code, w.stderr)
	require.Equal(t, "job "+a+" completed (2/2)\n", w.stdout)
	require.Contains(t, w.stderr, "] Zoning district and permitted use (zoning_use): completed")

	c := run(t, env, "cancel", a)
	require.Equal(t, 1, c.code, c.stderr)
	require.Contains(t, c.stderr, "cannot cancel job "+a)
	r := run(t, env, "retry", a)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "cannot retry job "+a)
	unknown := run(t, env, "cancel", "0190c6e2-0000-7000-8000-000000000000")
	require.Equal(t, 1, unknown.code, unknown.stderr)
	require.Contains(t, unknown.stderr, "job 0190c6e2-0000-7000-8000-000000000000 not found")

	// A job check is running in another process: cancel it there.
	slow := append(append([]string(nil), env...), "CODECHECK_FAKE_LLM_LATENCY=1m", "CODECHECK_LEASE=3s")
	running := startBackground(t, slow, "check", "--provider", "fake", testAddress)
	var b string
	waitFor(t, "check to run its job", 30*time.Second, func() bool {
		b = checkJobID(running.stderr.String())
		return b != "" && listed(t, env, b, "processing", "--status", "processing")
	})
	c = run(t, env, "cancel", b)
	require.Equal(t, 0, c.code, c.stderr)
	require.Regexp(t, `^job `+b+` canceled \(0/13\)\n$`, c.stdout)
	require.NotEqual(t, 0, running.wait(t, time.Minute), "check stops once its job is canceled")
	require.True(t, listed(t, env, b, "canceled"))

	// Retry it, watch it from here, and let `work` run it.
	r = run(t, env, "retry", b)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^job `+b+` pending \(\d+/13\)\n$`, r.stdout)
	require.Contains(t, r.stderr, "codecheck work --job-id "+b)
	watching := startBackground(t, env, "watch", b)
	waitFor(t, "watch to follow the job", 30*time.Second, func() bool {
		return strings.Contains(watching.stderr.String(), "watching job "+b)
	})
	work := run(t, append(env, "CODECHECK_FAKE_LLM=1"), "work", "--job-id", b)
	require.Equal(t, 0, work.code, work.stderr)
	require.Equal(t, 0, watching.wait(t, time.Minute), watching.stderr.String())
	require.Equal(t, "job "+b+" completed (13/13)\n", watching.stdout.String())
	require.Contains(t, watching.stderr.String(), "/13] Permitting process (permitting_process): completed")
}

// With CODECHECK_API_URL the same commands act on a server's jobs, with
// CODECHECK_API_KEY; the local store is never opened.
func TestJobsRemote(t *testing.T) {
	const key = "cli-test-key-1"
	srv := launchServe(t, "127.0.0.1", sqliteEnv(t, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=1s", "CODECHECK_API_KEYS="+key))
	env := baseEnv(t, "CODECHECK_API_URL="+srv.base, "CODECHECK_API_KEY="+key,
		"DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "no-such-dir", "never.db"))
	auth := http.Header{"Authorization": {"Bearer " + key}}
	submit := func(body string) string {
		resp, data := apiCall(t, http.MethodPost, srv.base+"/jobs", body, auth)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
		var j apiJob
		require.NoError(t, json.Unmarshal(data, &j))
		return j.ID
	}

	a := submit(`{"address":"` + testAddress + `","llm_provider":"fake","sections":["zoning_use"]}`)
	w := run(t, env, "watch", a)
	require.Equal(t, 0, w.code, w.stderr)
	require.Equal(t, "job "+a+" completed (2/2)\n", w.stdout)
	require.Contains(t, w.stderr, "] Jurisdiction and authorities having jurisdiction (jurisdiction): completed")
	require.Contains(t, w.stderr, "] Zoning district and permitted use (zoning_use): completed")

	require.True(t, listed(t, env, a, "completed"))
	require.True(t, listed(t, env, a, "completed", "--status", "completed", "--limit", "5"))
	require.False(t, listed(t, env, a, "completed", "--status", "failed"))
	requireListJSON(t, env, a)

	// The report is the server's.
	rep := run(t, env, "report", "--job-id", a, "--format", "json")
	require.Equal(t, 0, rep.code, rep.stderr)
	_, body := apiCall(t, http.MethodGet, srv.base+"/jobs/"+a+"/report", "", auth)
	var fromCLI, fromAPI map[string]any
	require.NoError(t, json.Unmarshal([]byte(rep.stdout), &fromCLI))
	require.NoError(t, json.Unmarshal(body, &fromAPI))
	require.Equal(t, fromAPI, fromCLI)

	// Cancel a running job, retry it, and watch the server finish it.
	b := submit(`{"address":"` + testAddress + `","llm_provider":"fake"}`)
	c := run(t, env, "cancel", b)
	require.Equal(t, 0, c.code, c.stderr)
	require.Regexp(t, `^job `+b+` canceled \(\d+/13\)\n$`, c.stdout)
	again := run(t, env, "cancel", b)
	require.Equal(t, 1, again.code)
	require.Contains(t, again.stderr, "cannot cancel job "+b)
	r := run(t, env, "retry", b)
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^job `+b+` (pending|processing) \(\d+/13\)\n$`, r.stdout, "the server may have taken it up already")
	require.NotContains(t, r.stderr, "codecheck work", "the server runs it")
	w = run(t, env, "watch", b)
	require.Equal(t, 0, w.code, w.stderr)
	require.Equal(t, "job "+b+" completed (13/13)\n", w.stdout)

	// A wrong key, or no server, is a configuration error naming the variable.
	bad := run(t, append(env, "CODECHECK_API_KEY=wrong"), "list")
	require.Equal(t, exitUsage, bad.code, bad.stderr)
	require.Contains(t, bad.stderr, "CODECHECK_API_KEY: the server at "+srv.base+" refused the key")
	require.NotContains(t, bad.stderr, "wrong")
	missing := run(t, env, "watch", "0190c6e2-0000-7000-8000-000000000000")
	require.Equal(t, 1, missing.code, missing.stderr)
	require.Contains(t, missing.stderr, "not found")
}

// watch follows a job whose server restarts under it: the stream reconnects
// (with Last-Event-ID, see adapters/apiclient's tests) and the display goes
// on to the end.
func TestJobsRemoteWatchSurvivesARestart(t *testing.T) {
	db := sqliteEnv(t, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=1s")
	srv := launchServe(t, "127.0.0.1", db)
	job := submitAPIJob(t, srv.base)
	env := baseEnv(t, "CODECHECK_API_URL="+srv.base)
	watching := startBackground(t, env, "watch", job.ID)
	waitFor(t, "a finished section", time.Minute, func() bool {
		return strings.Contains(watching.stderr.String(), "(jurisdiction): completed")
	})
	port := strings.TrimPrefix(srv.base, "http://127.0.0.1:")
	require.Equal(t, 0, srv.terminate(30*time.Second))
	launchServeOn(t, port, db)
	require.Equal(t, 0, watching.wait(t, 2*time.Minute), watching.stderr.String())
	require.Equal(t, "job "+job.ID+" completed (13/13)\n", watching.stdout.String())
	require.Equal(t, 1, strings.Count(watching.stderr.String(), "(jurisdiction): completed"),
		"one line per section: %s", watching.stderr.String())
}

// launchServeOn starts serve on a given port of 127.0.0.1 (a restart).
func launchServeOn(t *testing.T, port string, env []string) {
	t.Helper()
	p := &serveProcess{t: t, base: "http://127.0.0.1:" + port, output: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve")
	p.cmd.Env = append(append([]string(nil), env...), "CODECHECK_ADDR=127.0.0.1:"+port)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	})
	p.waitHealthy(30 * time.Second)
}
