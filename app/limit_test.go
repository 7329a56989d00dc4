package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// recordingBudget answers Acquire and Paused from scripts (0 once a script
// runs out) and records every call.
type recordingBudget struct {
	mu         sync.Mutex
	waits      []time.Duration
	pauses     []time.Duration
	acquireErr error
	log        []string
}

func (b *recordingBudget) record(format string, args ...any) {
	b.log = append(b.log, fmt.Sprintf(format, args...))
}

func (b *recordingBudget) Acquire(_ context.Context, jobID, provider string, r ports.Rate) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("acquire %s %s %d/%d", jobID, provider, r.PerMinute, r.Burst)
	if b.acquireErr != nil {
		return 0, b.acquireErr
	}
	return next(&b.waits), nil
}

func (b *recordingBudget) Pause(_ context.Context, jobID, provider string, d time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("pause %s %s %s", jobID, provider, d)
	return nil
}

func (b *recordingBudget) Paused(_ context.Context, jobID, provider string) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record("paused %s %s", jobID, provider)
	return next(&b.pauses), nil
}

func (b *recordingBudget) calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.log...)
}

func next(script *[]time.Duration) time.Duration {
	if len(*script) == 0 {
		return 0
	}
	d := (*script)[0]
	*script = (*script)[1:]
	return d
}

var quietLog = slog.New(slog.DiscardHandler)

// research makes one call for job-1 through l.
func research(ctx context.Context, l ports.LLM) error {
	_, err := l.Research(ctx, ports.SectionRequest{JobID: "job-1", Section: domain.Catalogue()[0]})
	return err
}

// A call that may go at once costs one Acquire, with the rate and the
// documented burst: one job's 13 sections at 60 a minute.
func TestLimitTakesOneSlotPerCall(t *testing.T) {
	budget := &recordingBudget{}
	l := app.LimitWith(&scripted{}, app.LimitConfig{PerMinute: 60, Budget: budget, Logger: quietLog})
	require.NoError(t, research(t.Context(), l))
	require.Equal(t, []string{"acquire job-1 scripted 60/13"}, budget.calls())

	budget = &recordingBudget{}
	l = app.LimitWith(&scripted{}, app.LimitConfig{PerMinute: 6000, Budget: budget, Logger: quietLog})
	require.NoError(t, research(t.Context(), l))
	require.Equal(t, []string{"acquire job-1 scripted 6000/600"}, budget.calls(), "a tenth of a larger rate")
}

// A call told to wait waits, then checks that no pause began meanwhile
// before it goes.
func TestLimitWaitsForItsSlot(t *testing.T) {
	llm := &scripted{}
	budget := &recordingBudget{waits: []time.Duration{80 * time.Millisecond}}
	l := app.LimitWith(llm, app.LimitConfig{PerMinute: 60, Budget: budget, Logger: quietLog})
	start := time.Now()
	require.NoError(t, research(t.Context(), l))
	require.GreaterOrEqual(t, llm.times[domain.Catalogue()[0].Key][0].Sub(start), 80*time.Millisecond)
	require.Equal(t, []string{"acquire job-1 scripted 60/13", "paused job-1 scripted"}, budget.calls())
}

// A pause that began while the call waited voids its slot: it takes a new
// one, after the pause, and checks again.
func TestLimitForfeitsASlotAPauseOverran(t *testing.T) {
	llm := &scripted{}
	budget := &recordingBudget{waits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond},
		pauses: []time.Duration{time.Second}}
	l := app.LimitWith(llm, app.LimitConfig{PerMinute: 60, Budget: budget, Logger: quietLog})
	require.NoError(t, research(t.Context(), l))
	require.Equal(t, []string{"acquire job-1 scripted 60/13", "paused job-1 scripted",
		"acquire job-1 scripted 60/13", "paused job-1 scripted"}, budget.calls())
	require.Equal(t, 1, llm.callsFor(domain.Catalogue()[0].Key))
}

// A provider answer with a Retry-After pauses the provider for every
// process, at most MaxProviderPause; other failures do not.
func TestLimitPausesTheFleetOnRetryAfter(t *testing.T) {
	for _, c := range []struct {
		err  error
		want []string
	}{
		{retryable(429, 3*time.Second), []string{"pause job-1 scripted 3s"}},
		{retryable(503, 2*time.Hour), []string{"pause job-1 scripted " + app.MaxProviderPause.String()}},
		{retryable(429, 0), []string{}},
		{&ports.ProviderError{Provider: "scripted", StatusCode: 400, RetryAfter: time.Second, Message: "bad"}, []string{}},
	} {
		budget := &recordingBudget{}
		llm := &scripted{answer: func(context.Context, ports.SectionRequest, int) (ports.SectionResponse, error) {
			return ports.SectionResponse{}, c.err
		}}
		l := app.LimitWith(llm, app.LimitConfig{PerMinute: 60, Budget: budget, Logger: quietLog})
		require.ErrorIs(t, research(t.Context(), l), c.err)
		calls := budget.calls()
		require.NotEmpty(t, calls, "the call took a slot first")
		require.Equal(t, c.want, calls[1:], "after %v", c.err)
	}
}

// While the shared budget cannot be reached, calls go on under this
// process's own budget: the burst, then one a rate's interval.
func TestLimitFallsBackToTheProcessBudget(t *testing.T) {
	budget := &recordingBudget{acquireErr: errors.New("connection refused")}
	llm := &scripted{}
	l := app.LimitWith(llm, app.LimitConfig{PerMinute: 13, Budget: budget, Logger: quietLog}) // a burst of 13, then one per 4.6s
	for range 13 {
		require.NoError(t, research(t.Context(), l))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, research(ctx, l), context.DeadlineExceeded, "the 14th waits for the process's own budget")
	require.Equal(t, 13, llm.callsFor(domain.Catalogue()[0].Key))
}

// Two processes' limiters on one store share its budget: what one used,
// the other waits for.
func TestLimitSharesTheStoreBudget(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	a := app.LimitWith(&scripted{}, app.LimitConfig{PerMinute: 13, Budget: store, Logger: quietLog})
	b := app.LimitWith(&scripted{}, app.LimitConfig{PerMinute: 13, Budget: store, Logger: quietLog})
	for range 13 {
		require.NoError(t, research(t.Context(), a))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, research(ctx, b), context.DeadlineExceeded, "a's burst was the fleet's")

	// Without a shared budget each process has its own.
	c := app.Limit(&scripted{}, 0, 13)
	require.NoError(t, research(t.Context(), c))
}

// Without a shared budget a Retry-After still holds back this process's
// other calls.
func TestLimitPausesTheProcessWithoutAStore(t *testing.T) {
	llm := &scripted{answer: func(_ context.Context, req ports.SectionRequest, n int) (ports.SectionResponse, error) {
		if req.Section.Key == domain.Catalogue()[0].Key {
			return ports.SectionResponse{}, retryable(429, 300*time.Millisecond)
		}
		return good(req), nil
	}}
	l := app.LimitWith(llm, app.LimitConfig{PerMinute: 6000, Logger: quietLog})
	refused := time.Now()
	require.Error(t, research(t.Context(), l))
	_, err := l.Research(t.Context(), ports.SectionRequest{JobID: "job-2", Section: domain.Catalogue()[1]})
	require.NoError(t, err)
	require.GreaterOrEqual(t, llm.times[domain.Catalogue()[1].Key][0].Sub(refused), 300*time.Millisecond)
}

// With a provider bounded to two calls at once, a job's sections wait for
// a slot in line, not in goroutines of their own: while two calls are in
// flight, two sections are running, not the twelve the job may run at
// once.
func TestSectionsWaitingForAProviderSlotHoldNoGoroutine(t *testing.T) {
	gate := make(chan struct{})
	var calling sync.WaitGroup
	calling.Add(2)
	var mu sync.Mutex
	inFlight := 0
	llm := &scripted{answer: func(ctx context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if req.Section.Key != domain.JurisdictionKey {
			mu.Lock()
			inFlight++
			if inFlight <= 2 {
				calling.Done()
			}
			mu.Unlock()
			select {
			case <-gate:
			case <-ctx.Done():
				return ports.SectionResponse{}, ctx.Err()
			}
		}
		return good(req), nil
	}}
	e := newEnv(t, llm, func(c *app.WorkerConfig) {
		c.Providers = mustProviders(t, app.Limit(llm, 2, 0))
		c.SectionConcurrency = 12
	})
	job := e.submit(t)
	done := make(chan domain.Job, 1)
	go func() {
		j, err := e.w.Work(context.Background(), job.ID, false)
		if err != nil {
			t.Error(err)
		}
		done <- j
	}()
	calling.Wait() // both slots taken by calls waiting at the gate
	require.Equal(t, 2, goroutinesIn("app.(*run).section("), "section goroutines while two calls are in flight")
	close(gate)
	j := <-done
	require.Equal(t, domain.JobCompleted, j.Status)
	require.Equal(t, "13/13", j.Progress())
}

// goroutinesIn counts the goroutines whose stack has a frame of fn.
func goroutinesIn(fn string) int {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	n := 0
	for g := range strings.SplitSeq(b.String(), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// A job canceled while its sections wait in line for the provider ends at
// once: the sections in line start only to see that they are done, call
// nothing, and leave the line.
func TestCancelEndsAJobWhoseSectionsWaitInLine(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	calling := make(chan struct{}, 1)
	llm := &scripted{answer: func(ctx context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if req.Section.Key != domain.JurisdictionKey {
			select {
			case calling <- struct{}{}:
			default:
			}
			select {
			case <-gate:
			case <-ctx.Done():
				return ports.SectionResponse{}, ctx.Err()
			}
		}
		return good(req), nil
	}}
	limited := app.Limit(llm, 1, 0)
	e := newEnv(t, llm, func(c *app.WorkerConfig) {
		c.Providers = mustProviders(t, limited)
		c.SectionConcurrency = 12
	})
	job := e.submit(t)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = e.w.Work(context.Background(), job.ID, false)
	}()
	<-calling // one section holds the only slot; ten wait in line
	_, err := e.svc.Cancel(context.Background(), job.ID)
	require.NoError(t, err)
	select {
	case <-ended:
	case <-time.After(10 * time.Second): // a deadline, not a sleep
		t.Fatal("the attempt did not end after its job was canceled")
	}
	require.Equal(t, domain.JobCanceled, e.report(t, job.ID).Job.Status)
	require.Len(t, llm.calls, 2, "the jurisdiction and the one section that had the slot; none after the cancel")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, research(ctx, limited), "the slot came back")
}
