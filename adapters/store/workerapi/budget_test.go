package workerapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/workerapi"
	"github.com/codecheck/codecheck/ports"
)

// Provider budget answers say nothing of the job: a worker that keeps
// taking provider slots still has its job polled, and learns of a cancel.
func TestBudgetAnswersDoNotSilenceWatch(t *testing.T) {
	st := openSQLite(t, nil)
	a := serve(t, st, nil, nil)
	job := newJob(t, st)
	c := a.client(t, workerapi.WithWatchInterval(50*time.Millisecond))
	_, err := c.Claim(t.Context(), ports.ClaimRequest{JobID: job.ID, Worker: "w", Lease: time.Minute})
	require.NoError(t, err)
	ch, err := c.Watch(t.Context(), job.ID)
	require.NoError(t, err)
	_, err = st.Cancel(t.Context(), job.ID)
	require.NoError(t, err)

	plenty := ports.Rate{PerMinute: 600000, Burst: 100000}
	deadline := time.After(5 * time.Second)
	for {
		wait, err := c.Acquire(t.Context(), job.ID, "openai", plenty)
		require.NoError(t, err)
		require.Zero(t, wait)
		select {
		case <-ch:
			return
		case <-deadline:
			t.Fatal("the cancel was not seen while the worker took provider slots")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
