package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// silentChanges never reports a change: the worker learns of a cancel only
// from its own context or its next write.
type silentChanges struct{}

func (silentChanges) Watch(ctx context.Context, _ string) (<-chan struct{}, error) {
	ch := make(chan struct{})
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

func (c silentChanges) WatchState(ctx context.Context, jobID string) (<-chan struct{}, error) {
	return c.Watch(ctx, jobID)
}

// The local executor cancels a canceled job's context, which can stop the
// attempt before the change feed tells it why. The attempt then ends as
// canceled (ErrJobFinished), not as a failed release of a lost lease.
func TestCancelByContextEndsAsCanceled(t *testing.T) {
	started := make(chan struct{}, 13)
	llm := &scripted{answer: func(ctx context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if req.Section.Key == domain.JurisdictionKey {
			return good(req), nil
		}
		started <- struct{}{}
		<-ctx.Done()
		return ports.SectionResponse{}, ctx.Err()
	}}
	e := newEnv(t, llm, func(c *app.WorkerConfig) { c.Changes = silentChanges{} })
	job := e.submit(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, err := e.w.Work(ctx, job.ID, false)
		result <- err
	}()
	<-started
	_, err := e.store.Cancel(context.Background(), job.ID)
	require.NoError(t, err)
	cancel() // as the local executor's Cancel does
	select {
	case err := <-result:
		require.ErrorIs(t, err, app.ErrJobFinished)
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop")
	}
	r := e.report(t, job.ID)
	require.Equal(t, domain.JobCanceled, r.Job.Status)
	for _, s := range r.Sections {
		require.NotEqual(t, domain.SectionRunning, s.Status, s.Key)
	}
}
