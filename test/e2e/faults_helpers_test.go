package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/domain"
)

// Helpers of the fault tests (faults_test.go): a fleet of real `serve` and
// `worker` processes on one Postgres database, sharing the fake provider's
// call log, and the invariants every fault test ends with.

// soakRun reports whether the fault tests run at full size (make soak).
func soakRun() bool { return os.Getenv("CODECHECK_SOAK") == "1" }

// faultSize is ci in an ordinary run and full under CODECHECK_SOAK=1.
func faultSize(ci, full int) int {
	if soakRun() {
		return full
	}
	return ci
}

// faultRig is one database, the processes running on it, and the call log
// their fake providers append to.
type faultRig struct {
	t       *testing.T
	dbURL   string
	store   *postgres.Store
	db      *pgxpool.Pool // the test's own queries; reconnects after a Postgres restart
	dir     string
	callLog string
	env     []string
	host    string
	seq     int
	procs   []*faultProc
}

// faultProc is one `codecheck serve` or `codecheck worker` process.
type faultProc struct {
	kind, name string
	cmd        *exec.Cmd
	logPath    string
	exited     chan struct{} // closed once the process has exited
	code       int           // exit code, once exited is closed
	worker     string        // its worker name in claims: host/pid
}

// newFaultRig opens the store at dbURL (migrating it) and prepares the
// environment every process of the rig gets: the fake provider with its
// call log, no reuse (every section is researched, so the call log tells
// all), a provider budget that never throttles, and env on top.
func newFaultRig(t *testing.T, dbURL string, env ...string) *faultRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	db, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	host, err := os.Hostname()
	require.NoError(t, err)
	dir := t.TempDir()
	r := &faultRig{t: t, dbURL: dbURL, store: store, db: db, dir: dir, callLog: filepath.Join(dir, "calls.log"), host: host}
	r.env = baseEnv(t, append([]string{"DATABASE_URL=" + dbURL, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LOG=" + r.callLog,
		"CODECHECK_REUSE=0", "CODECHECK_PROVIDER_RPM=100000", "CODECHECK_PROVIDER_CONCURRENCY=64",
		"CODECHECK_METRICS_ADDR=off", "CODECHECK_DISPATCH_CONCURRENCY=4"}, env...)...)
	t.Cleanup(r.stopAll)
	return r
}

// start starts a process of kind ("serve" or "worker") with the rig's
// environment and extra on top. Its output goes to a log file, shown when
// the test fails.
func (r *faultRig) start(kind string, extra ...string) *faultProc {
	r.t.Helper()
	r.seq++
	p := &faultProc{kind: kind, name: fmt.Sprintf("%s-%d", kind, r.seq), exited: make(chan struct{})}
	p.logPath = filepath.Join(r.dir, p.name+".log")
	out, err := os.Create(p.logPath)
	require.NoError(r.t, err)
	env := append(append([]string(nil), r.env...), extra...)
	if kind == "serve" {
		env = append(env, "CODECHECK_ADDR="+net.JoinHostPort("127.0.0.1", freePort(r.t)))
	}
	p.cmd = exec.Command(binary, kind)
	p.cmd.Env = env
	// Should the test binary die (a -timeout panic), its processes die too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	require.NoError(r.t, p.cmd.Start())
	p.worker = fmt.Sprintf("%s/%d", r.host, p.cmd.Process.Pid)
	go func() {
		_ = p.cmd.Wait()
		out.Close()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	r.procs = append(r.procs, p)
	return p
}

// signal sends sig to p (a no-op once it has exited).
func (p *faultProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !strings.Contains(err.Error(), "process already finished") {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// kill SIGKILLs p and waits until it is gone.
func (p *faultProc) kill(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGCONT) // a stopped process dies at once either way; be sure
	p.signal(t, syscall.SIGKILL)
	p.waitExit(t, 30*time.Second)
}

// waitExit waits until p has exited and returns its exit code.
func (p *faultProc) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s", p.name, timeout)
		return -1
	}
}

func (p *faultProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// log is p's output so far.
func (p *faultProc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// stopAll ends every process still running (SIGKILL: the test is over) and,
// when the test failed, shows the end of each log.
func (r *faultRig) stopAll() {
	for _, p := range r.procs {
		if p.running() {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if !r.t.Failed() {
		r.logErrors()
		return
	}
	for _, p := range r.procs {
		lines := strings.Split(strings.TrimRight(p.log(), "\n"), "\n")
		if len(lines) > 80 {
			lines = lines[len(lines)-80:]
		}
		r.t.Logf("---- %s (%s, exit %d), last lines ----\n%s", p.name, p.worker, p.code, strings.Join(lines, "\n"))
	}
}

// logErrors shows the error lines of the processes' logs (the first few):
// a fault may well make a process log errors, and a reader of a passing run
// should see which.
func (r *faultRig) logErrors() {
	var lines []string
	for _, p := range r.procs {
		for _, line := range strings.Split(p.log(), "\n") {
			if strings.Contains(line, "level=ERROR") {
				lines = append(lines, p.name+": "+line)
			}
		}
	}
	if n := len(lines); n > 0 {
		r.t.Logf("%d error lines in the processes' logs; the first:\n%s", n, strings.Join(lines[:min(n, 10)], "\n"))
	}
}

// createJobs writes n pending jobs of all 13 sections for the fake
// provider straight into the store, as POST /jobs would.
func (r *faultRig) createJobs(n int) []string {
	r.t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for i := range ids {
		j, _, err := r.store.Create(ctx, domain.Job{ID: uuid.Must(uuid.NewV7()).String(),
			Address: fmt.Sprintf("%d Main St, Springfield, IL 62701", 100+i), Provider: "fake", Sections: domain.SectionKeys()})
		require.NoError(r.t, err)
		ids[i] = j.ID
	}
	return ids
}

// unfinished counts the jobs that are pending or processing.
func (r *faultRig) unfinished() int {
	r.t.Helper()
	var n int
	r.queryRow(`SELECT count(*) FROM jobs WHERE status IN ('pending', 'processing')`).scan(&n)
	return n
}

// waitAllFinished polls until no job is pending or processing.
func (r *faultRig) waitAllFinished(timeout time.Duration) {
	r.t.Helper()
	waitFor(r.t, "every job to finish", timeout, func() bool { return r.unfinished() == 0 })
}

// held is the number of jobs p holds (processing under its name).
func (r *faultRig) held(p *faultProc) int {
	r.t.Helper()
	var n int
	r.queryRow(`SELECT count(*) FROM jobs WHERE status = 'processing' AND worker = $1`, p.worker).scan(&n)
	return n
}

// job reads one job.
func (r *faultRig) job(id string) domain.Job {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := r.store.Get(ctx, id)
	require.NoError(r.t, err)
	return j
}

// faultRow is a query's single row, scanned with retries: the rig's own
// reads outlive a Postgres restart.
type faultRow struct {
	r     *faultRig
	query string
	args  []any
}

func (r *faultRig) queryRow(query string, args ...any) faultRow { return faultRow{r, query, args} }

func (q faultRow) scan(dest ...any) {
	q.r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := q.r.db.QueryRow(ctx, q.query, q.args...).Scan(dest...)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			q.r.t.Fatalf("query %q: %v", q.query, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// faultEvent is one row of a job's event history.
type faultEvent struct {
	seq                  int64
	typ, status, section string
	attempt              int
	at                   time.Time
}

func (r *faultRig) events(id string) []faultEvent {
	r.t.Helper()
	rows, err := r.db.Query(context.Background(), `SELECT job_seq, type, status, section, attempt, at FROM events
		WHERE job_id = $1 ORDER BY job_seq`, id)
	require.NoError(r.t, err)
	defer rows.Close()
	var out []faultEvent
	for rows.Next() {
		var e faultEvent
		require.NoError(r.t, rows.Scan(&e.seq, &e.typ, &e.status, &e.section, &e.attempt, &e.at))
		out = append(out, e)
	}
	require.NoError(r.t, rows.Err())
	return out
}

// calls reads the call log: for each job, section, the attempt of every
// provider call, in order.
func (r *faultRig) calls() map[string]map[string][]int {
	r.t.Helper()
	out := map[string]map[string][]int{}
	f, err := os.Open(r.callLog)
	if os.IsNotExist(err) {
		return out
	}
	require.NoError(r.t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		require.Len(r.t, parts, 3, "call log line %q", sc.Text())
		attempt, err := strconv.Atoi(parts[2])
		require.NoError(r.t, err)
		if out[parts[0]] == nil {
			out[parts[0]] = map[string][]int{}
		}
		out[parts[0]][parts[1]] = append(out[parts[0]][parts[1]], attempt)
	}
	require.NoError(r.t, sc.Err())
	return out
}

// faultStats sums up a run for the test's log.
type faultStats struct {
	jobs, completed, failed int
	resumed                 int // jobs that needed more than one attempt
	calls                   int // provider calls
	retried                 int // sections that needed more than one call in an attempt
}

func (s faultStats) String() string {
	return fmt.Sprintf("%d jobs: %d completed, %d failed, %d needed more than one attempt; %d provider calls, %d sections retried within an attempt",
		s.jobs, s.completed, s.failed, s.resumed, s.calls, s.retried)
}

// failedOK judges a failed job: nil when the test expects its failure.
type failedOK func(j domain.Job, sections []domain.SectionResult) error

// requireInvariants checks what every fault test promises, for every job in
// ids:
//   - 0 lost: the job ended completed (13/13), or failed where the test
//     expects it (failed may be nil: no failure is expected);
//   - 0 stuck: none is pending or processing;
//   - 0 stale writes: every section event was recorded while the job was
//     processing at that event's attempt (never after the attempt was
//     released, requeued or superseded), no attempt saved a section
//     completed twice, and every completed section started after its
//     attempt's claim. (A save that slipped through the fence would be
//     recorded under the job's current attempt; the later two catch it.)
//   - 0 recomputed: no provider call for a section by a later attempt than
//     the one that saved it completed (from the fake provider's call log),
//     and no section saved completed by two attempts.
func (r *faultRig) requireInvariants(ids []string, failed failedOK) faultStats {
	r.t.Helper()
	calls := r.calls()
	stats := faultStats{jobs: len(ids)}
	var v violations
	for _, id := range ids {
		secs, err := r.store.Sections(context.Background(), id)
		require.NoError(r.t, err)
		r.checkEnd(r.job(id), secs, failed, &stats, &v)
		completedAt, claims, stale, redone := r.checkEvents(id)
		v.stale = append(append(v.stale, stale...), checkStarts(id, secs, completedAt, claims)...)
		v.recomputed = append(append(v.recomputed, redone...), checkCalls(id, calls[id], completedAt, &stats)...)
	}
	if report := v.String(); report != "" {
		r.t.Fatalf("fault invariants broken (%s):\n%s", stats, report)
	}
	return stats
}

// violations are the broken invariants, by kind.
type violations struct{ lost, stuck, stale, recomputed []string }

func (v violations) String() string {
	var b strings.Builder
	for _, c := range []struct {
		what string
		list []string
	}{{"jobs lost", v.lost}, {"jobs stuck", v.stuck}, {"stale writes", v.stale}, {"completed sections recomputed", v.recomputed}} {
		if len(c.list) > 0 {
			fmt.Fprintf(&b, "%d %s:\n  %s\n", len(c.list), c.what, strings.Join(c.list, "\n  "))
		}
	}
	return b.String()
}

// checkEnd files job j as completed, expectedly failed, lost or stuck.
func (r *faultRig) checkEnd(j domain.Job, secs []domain.SectionResult, failed failedOK, stats *faultStats, v *violations) {
	switch {
	case j.Status == domain.JobPending || j.Status == domain.JobProcessing:
		v.stuck = append(v.stuck, fmt.Sprintf("%s %s at attempt %d (%s)", j.ID, j.Status, j.Attempt, j.Progress()))
	case j.Status == domain.JobCompleted && j.Progress() == "13/13":
		stats.completed++
	case j.Status == domain.JobFailed && failed != nil:
		if err := failed(j, secs); err != nil {
			v.lost = append(v.lost, fmt.Sprintf("%s failed unexpectedly: %v (job error: %s)", j.ID, err, j.Error))
		} else {
			stats.failed++
		}
	default:
		v.lost = append(v.lost, fmt.Sprintf("%s ended %s %s: %s", j.ID, j.Status, j.Progress(), j.Error))
	}
	if j.Attempt > 1 {
		stats.resumed++
	}
}

// checkStarts describes each completed section of job id that has no
// completed event, or started before the claim of the attempt that saved
// it: the work of an earlier, fenced-out attempt.
func checkStarts(id string, secs []domain.SectionResult, completedAt map[string]int, claims map[int]time.Time) []string {
	var out []string
	for _, s := range secs {
		if s.Status != domain.SectionCompleted {
			continue
		}
		k, ok := completedAt[s.Key]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s/%s is completed with no completed event", id, s.Key))
		case s.StartedAt == nil || s.StartedAt.Before(claims[k]):
			out = append(out, fmt.Sprintf("%s/%s saved completed by attempt %d but started at %v, before that attempt's claim at %v",
				id, s.Key, k, s.StartedAt, claims[k]))
		}
	}
	return out
}

// checkCalls describes each provider call for a section of job id by a
// later attempt than the one that saved it completed, and counts the calls
// and the sections retried within an attempt.
func checkCalls(id string, calls map[string][]int, completedAt map[string]int, stats *faultStats) []string {
	var out []string
	for key, attempts := range calls {
		stats.calls += len(attempts)
		per := map[int]int{}
		for _, a := range attempts {
			per[a]++
			if k, ok := completedAt[key]; ok && a > k {
				out = append(out, fmt.Sprintf("%s/%s completed by attempt %d, called again by attempt %d", id, key, k, a))
			}
		}
		for _, n := range per {
			if n > 1 {
				stats.retried++
			}
		}
	}
	return out
}

// checkEvents replays a job's events. It returns the attempt that first
// saved each section completed and the time of each attempt's claim. It
// describes every event a fenced-out writer could have caused (problems),
// and every section saved completed again by a later attempt (redone).
func (r *faultRig) checkEvents(id string) (completedAt map[string]int, claims map[int]time.Time, problems, redone []string) {
	completedAt, claims = map[string]int{}, map[int]time.Time{}
	status, attempt := "", 0 // the job as its last job event left it
	for _, e := range r.events(id) {
		if e.typ == string(domain.EventJob) {
			if e.status == string(domain.JobProcessing) && (status != string(domain.JobProcessing) || e.attempt != attempt) {
				claims[e.attempt] = e.at
			}
			if e.attempt < attempt {
				problems = append(problems, fmt.Sprintf("%s event %d: job event of attempt %d after attempt %d", id, e.seq, e.attempt, attempt))
			}
			status, attempt = e.status, e.attempt
			continue
		}
		if status != string(domain.JobProcessing) || e.attempt != attempt {
			problems = append(problems, fmt.Sprintf("%s event %d: section %s %s by attempt %d while the job was %s at attempt %d",
				id, e.seq, e.section, e.status, e.attempt, status, attempt))
		}
		if e.status == string(domain.SectionCompleted) {
			prev, ok := completedAt[e.section]
			switch {
			case !ok:
				completedAt[e.section] = e.attempt
			case prev == e.attempt: // one attempt saves a section completed once: the other save was a fenced-out writer's
				problems = append(problems, fmt.Sprintf("%s/%s saved completed twice under attempt %d", id, e.section, e.attempt))
			default:
				redone = append(redone, fmt.Sprintf("%s/%s saved completed by attempt %d, then again by attempt %d", id, e.section, prev, e.attempt))
			}
		}
	}
	return completedAt, claims, problems, redone
}

// logLines counts the lines of a log that mention all of parts.
func logLines(log string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}
