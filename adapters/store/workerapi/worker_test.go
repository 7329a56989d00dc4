package workerapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/adapters/store/workerapi"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// namedLLM is a provider that is never called (the Service needs one).
type namedLLM string

func (n namedLLM) Name() string  { return string(n) }
func (n namedLLM) Model() string { return "none" }
func (n namedLLM) Research(context.Context, ports.SectionRequest) (ports.SectionResponse, error) {
	return ports.SectionResponse{}, errors.New("not callable")
}

// countingLLM is the fake provider, counting its calls per section.
type countingLLM struct {
	*fake.Provider
	mu    sync.Mutex
	calls map[string]int
}

func newCountingLLM(t *testing.T) *countingLLM {
	p, err := fake.New(fake.Config{Latency: -1})
	require.NoError(t, err)
	return &countingLLM{Provider: p, calls: map[string]int{}}
}

func (c *countingLLM) Research(ctx context.Context, req ports.SectionRequest) (ports.SectionResponse, error) {
	c.mu.Lock()
	c.calls[req.Section.Key]++
	c.mu.Unlock()
	return c.Provider.Research(ctx, req)
}

// sections is how many sections were asked for, and whether each was
// asked once.
func (c *countingLLM) sections() (n int, once bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	once = true
	for _, calls := range c.calls {
		once = once && calls == 1
	}
	return len(c.calls), once
}

// proxy counts the requests per operation ("PUT sections" and so on) and
// lets a test break chosen ones.
type proxy struct {
	mu     sync.Mutex
	counts map[string]int
	// sent and received count body bytes: requests' and answers'.
	sent, received int64
	// fault, when set, answers a request instead of the handler when it
	// returns true; it is told the operation and how many came before.
	fault func(w http.ResponseWriter, r *http.Request, next http.Handler, op string, n int) bool
}

func newProxy() *proxy { return &proxy{counts: map[string]int{}} }

// operation names a worker API request by method and last path element.
func operation(r *http.Request) string {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/worker/jobs/"), "/")
	switch len(parts) {
	case 1:
		return r.Method + " job"
	default:
		return r.Method + " " + parts[1]
	}
}

func (p *proxy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		p.mu.Lock()
		n := p.counts[op]
		p.counts[op]++
		fault := p.fault
		p.mu.Unlock()
		if fault != nil && fault(w, r, next, op, n) {
			return
		}
		cw := &countingWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		p.mu.Lock()
		p.sent += max(r.ContentLength, 0)
		p.received += cw.n
		p.mu.Unlock()
	})
}

// countingWriter counts the body bytes of an answer.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (p *proxy) count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[op]
}

func (p *proxy) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.counts {
		n += c
	}
	return n
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// newJob creates a pending job of the fake provider in st.
func newJob(t *testing.T, st store) domain.Job {
	t.Helper()
	job, _, err := st.Create(t.Context(), domain.Job{ID: uuid.Must(uuid.NewV7()).String(),
		Address: "100 N 1st St, Springfield, IL 62701", Provider: fake.Name, Sections: domain.SectionKeys()})
	require.NoError(t, err)
	return job
}

// runJob runs the job with the app's worker over c and returns it as it
// ended.
func runJob(t *testing.T, c *workerapi.Client, llm ports.LLM, jobID string) (domain.Job, error) {
	t.Helper()
	providers, err := app.NewProviders("", llm)
	require.NoError(t, err)
	w, err := app.NewWorker(app.WorkerConfig{Store: c, Changes: c, Providers: providers, Name: "test", Logger: quiet})
	require.NoError(t, err)
	return w.Work(t.Context(), jobID, false)
}

// The app's worker runs a whole job over the API; the requests it makes
// are what a Modal container costs the API.
func TestWorkerRunsAJobOverTheAPI(t *testing.T) {
	st := openSQLite(t, nil)
	p := newProxy()
	a := serve(t, st, nil, p.wrap)
	job := newJob(t, st)
	llm := newCountingLLM(t)

	done, err := runJob(t, a.client(t), llm, job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, done.Status)
	require.Equal(t, "13/13", done.Progress())
	requireOneCallPerSection(t, llm)

	require.Equal(t, 1, p.count("POST claim"))
	require.Equal(t, 1, p.count("GET sections"))
	require.LessOrEqual(t, p.count("PUT sections"), 13, "each section saved once at most (saves that meet go as one); its start goes with the save before it")
	require.Equal(t, 1, p.count("POST finish"))
	require.LessOrEqual(t, p.count("GET job"), 2, "the worker reads the job before claiming and when it starts watching")
	t.Logf("requests for one 13-section job: %d (%v); body bytes sent %d, received %d", p.total(), p.counts, p.sent, p.received)
}

// A save whose request never reached the server, and one whose answer was
// lost after the server saved, are both retried by the client: the job
// completes and no section is asked of the provider twice.
func TestSaveRetriedWithoutAnotherProviderCall(t *testing.T) {
	faults := map[string]func(w http.ResponseWriter, r *http.Request, next http.Handler){
		"connection dropped before the server": func(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
			dropConnection(w)
		},
		"answer lost after the server saved": func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			next.ServeHTTP(discard{}, r)
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		},
		"server unavailable": func(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		},
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			st := openSQLite(t, nil)
			p := newProxy()
			var faulted atomic.Int32
			p.fault = func(w http.ResponseWriter, r *http.Request, next http.Handler, op string, _ int) bool {
				// The first save of a finished section.
				if op != "PUT sections" || !strings.Contains(readBody(r), `"status":"completed"`) || !faulted.CompareAndSwap(0, 1) {
					return false
				}
				fault(w, r, next)
				return true
			}
			a := serve(t, st, nil, p.wrap)
			job := newJob(t, st)
			llm := newCountingLLM(t)

			done, err := runJob(t, a.client(t), llm, job.ID)
			require.NoError(t, err)
			require.EqualValues(t, 1, faulted.Load(), "the fault happened")
			require.Equal(t, domain.JobCompleted, done.Status)
			require.Equal(t, "13/13", done.Progress())
			requireOneCallPerSection(t, llm)
			require.LessOrEqual(t, p.count("PUT sections"), 14, "one save tried twice")
		})
	}
}

// A finish whose answer was lost is retried, meets its own finish as a lost
// lease, and reports the job as that finish left it.
func TestFinishAnswerLost(t *testing.T) {
	st := openSQLite(t, nil)
	p := newProxy()
	p.fault = func(w http.ResponseWriter, r *http.Request, next http.Handler, op string, n int) bool {
		if op != "POST finish" || n > 0 {
			return false
		}
		next.ServeHTTP(discard{}, r)
		dropConnection(w)
		return true
	}
	a := serve(t, st, nil, p.wrap)
	c := a.client(t)
	job := newJob(t, st)
	claimed, err := c.Claim(t.Context(), ports.ClaimRequest{JobID: job.ID, Worker: "w", Lease: time.Minute})
	require.NoError(t, err)
	l := ports.Lease{JobID: job.ID, Attempt: claimed.Attempt}

	done, err := c.Finish(t.Context(), l, domain.JobFailed, "all sections failed")
	require.NoError(t, err)
	require.Equal(t, domain.JobFailed, done.Status)
	require.Equal(t, "all sections failed", done.Error)
	require.Equal(t, 2, p.count("POST finish"))

	_, err = c.Finish(t.Context(), l, domain.JobCompleted, "")
	require.ErrorIs(t, err, domain.ErrLeaseLost, "a finish that did not happen is still refused")
}

// 4xx answers are final: one request, the domain error, never the token.
func TestNoRetryOfRefusals(t *testing.T) {
	st := openSQLite(t, nil)
	p := newProxy()
	a := serve(t, st, nil, p.wrap)
	job := newJob(t, st)
	const bad = "cwt1.not-a-real.token"
	c, err := workerapi.New(a.http.URL, workerapi.StaticToken(bad), workerapi.WithHTTPClient(a.http.Client()))
	require.NoError(t, err)

	_, err = c.Claim(t.Context(), ports.ClaimRequest{JobID: job.ID, Worker: "w", Lease: time.Minute})
	require.ErrorIs(t, err, domain.ErrUnauthenticated)
	require.NotContains(t, err.Error(), bad)
	require.Equal(t, 1, p.count("POST claim"))

	other := newJob(t, st)
	c, err = workerapi.New(a.http.URL, workerapi.StaticToken(a.tokens.Mint(other.ID, time.Hour)),
		workerapi.WithHTTPClient(a.http.Client()))
	require.NoError(t, err)
	_, err = c.Get(t.Context(), job.ID)
	require.ErrorIs(t, err, domain.ErrForbidden, "another job's token")
	require.Equal(t, 1, p.count("GET job"))

	own := a.client(t)
	require.ErrorIs(t, own.Heartbeat(t.Context(), ports.Lease{JobID: job.ID, Attempt: 1}, time.Minute), domain.ErrLeaseLost,
		"a pending job has no lease")
	require.Equal(t, 1, p.count("POST heartbeat"))
	after, err := st.Get(t.Context(), job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobPending, after.Status, "nothing was written")
}

// Transient failures are retried within the bound, then reported as they
// are (not as a domain error a worker would act on).
func TestRetryIsBounded(t *testing.T) {
	st := openSQLite(t, nil)
	p := newProxy()
	p.fault = func(w http.ResponseWriter, _ *http.Request, _ http.Handler, _ string, _ int) bool {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return true
	}
	a := serve(t, st, nil, p.wrap)
	job := newJob(t, st)
	c := a.client(t, workerapi.WithRetryWithin(500*time.Millisecond))
	err := c.Heartbeat(t.Context(), ports.Lease{JobID: job.ID, Attempt: 1}, time.Minute)
	require.Error(t, err)
	require.Contains(t, err.Error(), "503")
	for _, sentinel := range []error{domain.ErrLeaseLost, domain.ErrNotFound, domain.ErrConflict, domain.ErrInvalid} {
		require.NotErrorIs(t, err, sentinel)
	}
	require.Greater(t, p.count("POST heartbeat"), 1, "retried")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = a.client(t).Heartbeat(ctx, ports.Lease{JobID: job.ID, Attempt: 1}, time.Minute)
	require.ErrorIs(t, err, context.Canceled, "a canceled call stops retrying")
}

// While the worker's calls keep answering, Watch polls nothing; a job left
// unheard of is polled, and a cancel seen by the poll wakes the watcher.
func TestWatchPollsOnlyWhenUnheard(t *testing.T) {
	st := openSQLite(t, nil)
	p := newProxy()
	a := serve(t, st, nil, p.wrap)
	job := newJob(t, st)
	c := a.client(t, workerapi.WithWatchInterval(time.Hour))
	claimed, err := c.Claim(t.Context(), ports.ClaimRequest{JobID: job.ID, Worker: "w", Lease: time.Minute})
	require.NoError(t, err)
	ch, err := c.Watch(t.Context(), job.ID)
	require.NoError(t, err)
	_, err = st.Cancel(t.Context(), job.ID)
	require.NoError(t, err)
	select {
	case <-ch:
		t.Fatal("a watcher woke with no request made")
	default:
	}
	require.Zero(t, p.count("GET job"), "no poll within the interval")

	// The worker's next fenced write is refused: that wakes the watcher.
	err = c.SaveSection(t.Context(), ports.Lease{JobID: job.ID, Attempt: claimed.Attempt},
		section(domain.JurisdictionKey))
	require.ErrorIs(t, err, domain.ErrLeaseLost)
	requireNotified(t, ch)

	// A fast poll finds a cancel on its own.
	job2 := newJob(t, st)
	fast := a.client(t, workerapi.WithWatchInterval(10*time.Millisecond))
	_, err = fast.Claim(t.Context(), ports.ClaimRequest{JobID: job2.ID, Worker: "w", Lease: time.Minute})
	require.NoError(t, err)
	ch2, err := fast.Watch(t.Context(), job2.ID)
	require.NoError(t, err)
	_, err = st.Cancel(t.Context(), job2.ID)
	require.NoError(t, err)
	requireNotified(t, ch2)
	got, err := fast.Get(t.Context(), job2.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobCanceled, got.Status)

	_, err = c.Watch(t.Context(), "")
	require.ErrorIs(t, err, domain.ErrInvalid, "a worker token covers one job")
}

func TestClaimNeedsAJob(t *testing.T) {
	c, err := workerapi.New("http://127.0.0.1:1", workerapi.StaticToken("x"))
	require.NoError(t, err)
	_, err = c.Claim(t.Context(), ports.ClaimRequest{Worker: "w", Lease: time.Minute})
	require.ErrorIs(t, err, domain.ErrInvalid)

	for _, bad := range []string{"", "ftp://example.com", "/relative", "http://"} {
		_, err := workerapi.New(bad, workerapi.StaticToken("x"))
		require.Error(t, err, bad)
	}
}

func requireOneCallPerSection(t *testing.T, llm *countingLLM) {
	t.Helper()
	n, once := llm.sections()
	require.Equal(t, 13, n, "every section asked of the provider")
	require.True(t, once, "no section asked of the provider twice")
}

func requireNotified(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case _, ok := <-ch:
		require.True(t, ok, "channel closed instead of notifying")
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5s")
	}
}

func section(key string) domain.SectionResult {
	spec, _ := domain.LookupSection(key)
	return domain.NewSectionResult(spec)
}

// readBody reads r's body and puts it back.
func readBody(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

// discard is a ResponseWriter that throws the answer away.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// A worker over the API sees the job's project, which goes into its
// prompts.
func TestWorkerSeesTheProject(t *testing.T) {
	st := openSQLite(t, nil)
	a := serve(t, st, nil, nil)
	stories := 2
	job, _, err := st.Create(t.Context(), domain.Job{ID: uuid.Must(uuid.NewV7()).String(),
		Address: "100 N 1st St, Springfield, IL 62701", Provider: fake.Name, Sections: domain.SectionKeys(),
		Project: &domain.Project{Use: "duplex", Scope: domain.ScopeNew, Stories: &stories}})
	require.NoError(t, err)
	got, err := a.client(t).Get(t.Context(), job.ID)
	require.NoError(t, err)
	require.Equal(t, job.Project, got.Project)
}
