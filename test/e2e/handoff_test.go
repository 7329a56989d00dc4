package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A container that exits without claiming its job: the job is handed off
// at most CODECHECK_MAX_ATTEMPTS times, each earlier call is canceled before
// the next hand-off, and the job ends failed with an error naming the
// executor, the last call and what to check.
func TestUnclaimedHandOffsAreBoundedAndFailTheJob(t *testing.T) {
	r := startModalRigWith(t, modalRigOptions{NoClaim: true,
		Env: []string{"CODECHECK_HANDOFF_TIMEOUT=1s", "CODECHECK_MAX_ATTEMPTS=2"}})
	job := r.submit()
	var got modalJob
	waitFor(t, "the job to fail", 60*time.Second, func() bool {
		r.call(http.MethodGet, "/jobs/"+job.ID, nil, http.StatusOK, &got)
		return got.Status == "failed"
	})
	spawns := r.fake.Spawns()
	require.Len(t, spawns, 2, "handed off CODECHECK_MAX_ATTEMPTS times, no more")
	require.Equal(t, 0, got.Attempt, "no attempt ever started")
	require.Contains(t, got.Error, "after 2 hand-offs to the modal executor")
	require.Contains(t, got.Error, spawns[1].CallID, "the error names the last call")
	require.Contains(t, got.Error, "the app is deployed")
	// The last call is canceled after the job is recorded failed: wait for it.
	waitFor(t, "the last call to be canceled", 30*time.Second, func() bool { return len(r.fake.Cancels()) >= 2 })
	require.Equal(t, []string{spawns[0].CallID, spawns[1].CallID}, r.fake.Cancels(),
		"each call is canceled: the first before the second hand-off, the last when the job fails")

	r.call(http.MethodGet, "/jobs/"+job.ID, nil, http.StatusOK, &got)
	require.Len(t, r.fake.Spawns(), 2)
}
