package e2e

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

// These tests run `codecheck serve` with CODECHECK_EXECUTOR=modal against
// test/modalfake through the real Modal SDK. Each spawned call runs
// `codecheck work --job-id` as its own process on the same Postgres, so
// everything the server reports about a job was written by another process.
// modalfake.Start sets the process environment: none of them is parallel.

// A job submitted over HTTP is spawned once on Modal with (job id, address,
// provider, worker token), runs in the spawned process, and its event stream follows that
// process's progress live, section by section, to the completed job.
func TestModalJobRunsInSpawnedWorkProcess(t *testing.T) {
	r := startModalRig(t)
	submitted := r.submit()
	require.Equal(t, "pending", submitted.Status)
	stream := r.follow(submitted.ID)

	sp := r.spawn(1)
	require.Equal(t, "code-check-worker", sp.App)
	require.Equal(t, "process_research_job", sp.Function)
	require.Equal(t, []any{submitted.ID, modalTestAddress, "fake", ""}, sp.Args,
		"[job_id, address, llm_provider, worker_token]; no token without a worker secret")
	require.Empty(t, sp.Kwargs)
	work := r.proc(sp.CallID)

	events := awaitModalStream(t, stream)
	require.NoError(t, work.waitExit(t), "the work process exits 0 for a completed job")

	job := r.job(submitted.ID)
	require.Equal(t, "completed", job.Status, job.Error)
	require.Equal(t, "13/13", job.Progress)
	require.Len(t, job.completedSections(), 13)
	require.Equal(t, 1, job.Attempt)
	require.Equal(t, "modal", job.Executor)
	require.Equal(t, sp.CallID, job.ExecutorRef)
	require.Empty(t, job.DispatchError)
	require.Len(t, r.fake.Spawns(), 1, "one spawn per attempt")

	requireLiveStream(t, events, submitted.ID, work)

	// The provider was asked once per section, by the work process only
	// (the server has no call log and runs no workers).
	calls := readCalls(t, r.callLog)
	require.Len(t, calls, 13)
	for _, c := range calls {
		require.Equal(t, call{submitted.ID, c.section, "1"}, c)
	}
}

// requireLiveStream checks the stream of a job done in one attempt: ids
// increasing, the work process's claim, one event per completed section
// with progress 1/13 .. 13/13, progress never going back, the completed job
// last; and that progress arrived while the work process was still running.
func requireLiveStream(t *testing.T, events []modalEvent, jobID string, work *workProc) {
	t.Helper()
	require.NotEmpty(t, events)
	var (
		sections []string
		done     = 0
		claimed  = false
	)
	for i, e := range events {
		if i > 0 {
			require.Greater(t, e.ID, events[i-1].ID, "event ids increase")
		}
		require.Equal(t, jobID, e.Data.JobID)
		n := modalProgress(t, e.Data.Progress)
		require.GreaterOrEqual(t, n, done, "progress went back at event %d", e.ID)
		done = n
		switch {
		case e.Event == "section" && e.Data.Status == "running": // started
			require.Equal(t, 1, e.Data.Attempt)
		case e.Event == "section":
			require.Equal(t, "completed", e.Data.Status, e.Data.Key)
			require.Equal(t, 1, e.Data.Attempt)
			sections = append(sections, e.Data.Key)
			require.Equal(t, len(sections), n, "section event %s carries the progress after it", e.Data.Key)
		case e.Event == "job":
			claimed = claimed || (e.Data.Status == "processing" && e.Data.Attempt == 1)
		default:
			t.Fatalf("unexpected event type %q", e.Event)
		}
	}
	require.True(t, claimed, "the stream shows the work process claiming the job")
	require.ElementsMatch(t, domain.SectionKeys(), sections)
	last := events[len(events)-1]
	require.Equal(t, "job", last.Event)
	require.Equal(t, "completed", last.Data.Status)
	require.Equal(t, "13/13", last.Data.Progress)

	first := events[slices.IndexFunc(events, func(e modalEvent) bool { return e.Event == "section" })]
	require.True(t, first.At.Before(work.at),
		"the first section event arrived at %s, after the work process exited at %s: not a live stream", first.At, work.at)
}

// A work process killed with SIGKILL mid-job stops heartbeating; once its
// 2s lease expires the server's dispatcher re-queues the job and spawns a
// second call, whose process finishes it as attempt 2 without asking the
// provider again for any section the first process had completed.
func TestModalKilledWorkProcessIsReplacedBySecondSpawn(t *testing.T) {
	r := startModalRig(t)
	submitted := r.submit()
	first := r.spawn(1)
	work := r.proc(first.CallID)

	running := r.waitJob(submitted.ID, "three finished sections", func(j modalJob) bool { return j.done() >= 3 })
	require.NoError(t, work.cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, work.waitExit(t), "the killed process exits with a signal")
	require.Equal(t, first.CallID, running.ExecutorRef)
	require.Equal(t, "modal", running.Executor)

	// Nothing writes to the job now: what is completed is what attempt 1 did.
	killed := r.job(submitted.ID)
	require.Equal(t, "processing", killed.Status)
	require.Equal(t, 1, killed.Attempt)
	completed := killed.completedSections()
	require.GreaterOrEqual(t, len(completed), 3)
	require.Less(t, len(completed), 13, "the kill came after the job was done")
	require.Len(t, r.fake.Spawns(), 1, "no second spawn while the lease is live")

	second := r.spawn(2)
	require.NotEqual(t, first.CallID, second.CallID)
	require.Equal(t, first.Args, second.Args)
	require.NoError(t, r.proc(second.CallID).waitExit(t), "the second work process completes the job")

	final := r.waitJob(submitted.ID, "the job completed", func(j modalJob) bool { return j.Status != "processing" && j.Status != "pending" })
	require.Equal(t, "completed", final.Status, final.Error)
	require.Equal(t, "13/13", final.Progress)
	require.Equal(t, 2, final.Attempt)
	require.Equal(t, "modal", final.Executor)
	require.Equal(t, second.CallID, final.ExecutorRef)
	require.Len(t, r.fake.Spawns(), 2)

	calls := readCalls(t, r.callLog)
	var again []string
	for _, c := range calls {
		require.Equal(t, submitted.ID, c.job)
		if c.attempt == "2" {
			require.False(t, completed[c.section], "section %s completed by attempt 1 was asked again", c.section)
			again = append(again, c.section)
		}
	}
	require.Len(t, again, 13-len(completed), "attempt 2 asked exactly for the sections attempt 1 had not completed")

	// Replaying the stream from the start shows each section finished once,
	// by the attempt that ran it, and the end.
	events := awaitModalStream(t, r.follow(submitted.ID))
	var finished []string
	for _, e := range events {
		if e.Event == "section" && e.Data.Status == "completed" {
			require.Equal(t, !completed[e.Data.Key], e.Data.Attempt == 2, "section %s finished by attempt %d", e.Data.Key, e.Data.Attempt)
			finished = append(finished, e.Data.Key)
		}
	}
	require.ElementsMatch(t, domain.SectionKeys(), finished)
	last := events[len(events)-1]
	require.Equal(t, "completed", last.Data.Status)
	require.Equal(t, 2, last.Data.Attempt)
}

// POST /jobs/{id}/cancel on a running modal job cancels it at once and
// cancels its Modal function call; the work process then stops.
func TestModalCancelReachesFunctionCall(t *testing.T) {
	r := startModalRig(t)
	submitted := r.submit()
	sp := r.spawn(1)
	work := r.proc(sp.CallID)
	r.waitJob(submitted.ID, "a finished section", func(j modalJob) bool { return j.Status == "processing" && j.done() >= 1 })

	var canceled modalJob
	r.call(http.MethodPost, "/jobs/"+submitted.ID+"/cancel", nil, http.StatusOK, &canceled)
	require.Equal(t, "canceled", canceled.Status)
	require.Equal(t, []string{sp.CallID}, r.fake.Cancels(), "the cancel reached Modal for the job's call")

	_ = work.waitExit(t) // the call's cancel stops it; its exit status does not matter
	final := r.job(submitted.ID)
	require.Equal(t, "canceled", final.Status)
	require.Less(t, final.done(), 13)
	require.Len(t, r.fake.Spawns(), 1, "a canceled job is not spawned again")
}

// serve refuses CODECHECK_EXECUTOR=modal without Postgres or without a
// Modal token, with one line naming the variable, and never prints the
// token secret.
func TestModalServeMisconfigured(t *testing.T) {
	const secret = "as-do-not-print-me"
	cases := []struct {
		name, want string
		env        []string
	}{
		{"sqlite database", "DATABASE_URL", []string{
			"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "codecheck.db"),
			"MODAL_TOKEN_ID=ak-x", "MODAL_TOKEN_SECRET=" + secret}},
		{"no token id", "MODAL_TOKEN_ID", []string{
			"DATABASE_URL=postgres://postgres@127.0.0.1:1/none?sslmode=disable",
			"MODAL_TOKEN_SECRET=" + secret}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := baseEnv(t, append(c.env, "CODECHECK_EXECUTOR=modal", "CODECHECK_ADDR="+modalFreeAddr(t))...)
			res := run(t, env, "serve")
			require.NotEqual(t, 0, res.code)
			msg := strings.TrimSpace(res.stderr)
			require.NotContains(t, msg, "\n", "one line")
			require.Contains(t, msg, c.want)
			require.NotContains(t, msg, secret)
		})
	}
}
