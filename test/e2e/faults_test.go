package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/pgtest"
)

// Fault tests: real `serve` and `worker` processes on Postgres, hurt the
// ways production hurts them. Each ends with requireInvariants: 0 jobs
// lost, 0 stuck, 0 completed sections recomputed, 0 stale writes. An
// ordinary run is sized for CI (the suite in about a minute on two busy
// cores); CODECHECK_SOAK=1 (make soak) runs the full size (about three).

// SIGKILL at random moments: while the jobs run on two `serve` and two
// `worker` processes, every 0.2 to 0.9 seconds one of them (a random one of
// those holding jobs) is killed and replaced. Every job completes, none
// runs a section twice, and the killed processes' jobs were resumed.
// CODECHECK_FAULT_SEED replays a run.
func TestFaultCrashLoop(t *testing.T) {
	jobs, maxKills := faultSize(30, 100), faultSize(12, 40)
	r := newFaultRig(t, pgtest.URL(t), "CODECHECK_FAKE_LLM_LATENCY=150ms", "CODECHECK_SECTION_CONCURRENCY=4",
		"CODECHECK_WORKERS=2", "CODECHECK_LEASE=2s", "CODECHECK_MAX_ATTEMPTS=50", "CODECHECK_DRAIN_TIMEOUT=1s")
	ids := r.createJobs(jobs)
	fleet := []*faultProc{r.start("serve"), r.start("serve"), r.start("worker"), r.start("worker")}
	rng := chaosRand(t)

	began := time.Now()
	kills, hits := 0, 0
	for kills < maxKills && r.unfinished() > 0 {
		// Pacing, not synchronisation: the next kill lands at a random moment.
		time.Sleep(time.Duration(200+rng.IntN(700)) * time.Millisecond)
		i := pickVictim(r, fleet, rng)
		if r.held(fleet[i]) > 0 {
			hits++
		}
		fleet[i].kill(t)
		kills++
		fleet[i] = r.start(fleet[i].kind)
	}
	r.waitAllFinished(time.Duration(faultSize(3, 10)) * time.Minute)
	stats := r.requireInvariants(ids, nil)
	t.Logf("crash loop: %d kills (%d of a process holding jobs) in %s; %s", kills, hits, time.Since(began).Round(time.Millisecond), stats)
	require.Positive(t, hits, "no kill hit a process that held a job: the test tested nothing")
	require.Positive(t, stats.resumed, "no job needed a second attempt: the kills hurt nothing")
}

// chaosRand is the crash loop's randomness, seeded from
// CODECHECK_FAULT_SEED when set, and logged so a failure can be replayed.
func chaosRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("CODECHECK_FAULT_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("chaos seed %d (CODECHECK_FAULT_SEED replays it)", seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// pickVictim picks a random process among those holding jobs, or any when
// none does.
func pickVictim(r *faultRig, fleet []*faultProc, rng *rand.Rand) int {
	var holding []int
	for i, p := range fleet {
		if r.held(p) > 0 {
			holding = append(holding, i)
		}
	}
	if len(holding) == 0 {
		return rng.IntN(len(fleet))
	}
	return holding[rng.IntN(len(holding))]
}

// 30% of provider calls fail with a retryable error (a simulated 503).
// Sections retry up to app.DefaultSectionAttempts calls; a job fails only
// where a section's every call failed, and then says so. Nothing is lost,
// stuck or recomputed, and retries save most sections that a first call
// failed.
func TestFaultProviderFaults(t *testing.T) {
	jobs := faultSize(60, 300)
	r := newFaultRig(t, pgtest.URL(t), "CODECHECK_FAKE_LLM_LATENCY=20ms", "CODECHECK_FAKE_LLM_FAIL_RATE=0.3",
		"CODECHECK_SECTION_CONCURRENCY=12", "CODECHECK_WORKERS=8", "CODECHECK_LEASE=10s")
	ids := r.createJobs(jobs)
	began := time.Now()
	r.start("serve")
	r.start("worker")
	r.waitAllFinished(time.Duration(faultSize(3, 15)) * time.Minute)
	took := time.Since(began)

	calls := r.calls()
	failedSections := 0
	stats := r.requireInvariants(ids, func(j domain.Job, secs []domain.SectionResult) error {
		for _, s := range secs {
			if s.Status == domain.SectionCompleted {
				continue
			}
			if s.Status != domain.SectionFailed || !strings.Contains(s.Error, "simulated failure") {
				return fmt.Errorf("section %s ended %s: %s", s.Key, s.Status, s.Error)
			}
			if n := callsBy(calls[j.ID][s.Key], j.Attempt); n != app.DefaultSectionAttempts {
				return fmt.Errorf("section %s failed after %d calls, want %d", s.Key, n, app.DefaultSectionAttempts)
			}
			if !strings.Contains(j.Error, s.Key) {
				return fmt.Errorf("the job's error does not name failed section %s", s.Key)
			}
			failedSections++
		}
		return nil
	})
	for id, bySection := range calls {
		for key, attempts := range bySection {
			for _, a := range attempts {
				require.LessOrEqual(t, callsBy(attempts, a), app.DefaultSectionAttempts, "%s/%s: too many calls by attempt %d", id, key, a)
			}
		}
	}
	t.Logf("provider faults: %s in %s; %d of %d sections failed every call", stats, took.Round(time.Millisecond),
		failedSections, jobs*len(domain.SectionKeys()))
	require.Positive(t, stats.retried, "no section was retried at a 30%% failure rate")
	require.Zero(t, stats.resumed, "a provider error cost a job its attempt")
	// With retries a section fails with probability 0.3^3 (2.7%); without
	// them it would be 30%.
	require.Less(t, failedSections, jobs*len(domain.SectionKeys())/10, "retries did not save the sections")
}

// callsBy is how many of a section's calls attempt made.
func callsBy(attempts []int, attempt int) int {
	n := 0
	for _, a := range attempts {
		if a == attempt {
			n++
		}
	}
	return n
}

// Postgres restarts mid-run, on a private server the test starts (never the
// shared one): it is stopped in fast mode (connections cut, open
// transactions rolled back), kept down until every process has noticed, and
// started again; every other outage also outlasts the lease, so that leases
// expire while the workers holding them are cut off. The processes stay up,
// and every job completes.
func TestFaultPostgresRestart(t *testing.T) {
	const lease = 3 * time.Second
	pg := pgtest.NewCluster(t)
	jobs, restarts := faultSize(20, 60), faultSize(2, 4)
	r := newFaultRig(t, pgtest.WithParam(t, pg.URL, "search_path", "codecheck_faults"), "CODECHECK_FAKE_LLM_LATENCY=200ms",
		"CODECHECK_SECTION_CONCURRENCY=4", "CODECHECK_WORKERS=4", "CODECHECK_LEASE="+lease.String(), "CODECHECK_MAX_ATTEMPTS=20")
	ids := r.createJobs(jobs)
	procs := []*faultProc{r.start("serve"), r.start("worker")}
	for i := 1; i <= restarts; i++ {
		var completed, processing int
		waitFor(t, fmt.Sprintf("the run to be mid-way before restart %d", i), 2*time.Minute, func() bool {
			r.queryRow(`SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'processing') FROM jobs`).
				scan(&completed, &processing)
			return completed >= i*jobs/(restarts+2) && processing >= 2
		})
		noticed := make([]int, len(procs))
		for k, p := range procs {
			noticed[k] = complaints(p.log())
		}
		pg.Stop()
		stopped := time.Now()
		waitFor(t, "every process to notice Postgres is gone", time.Minute, func() bool {
			for k, p := range procs {
				if complaints(p.log()) == noticed[k] {
					return false
				}
			}
			return true
		})
		if i%2 == 0 {
			// The outage's length is the fault itself, not synchronisation:
			// past the lease, so leases expire while their workers are cut off.
			time.Sleep(time.Until(stopped.Add(lease + time.Second)))
		}
		pg.Start()
		t.Logf("restart %d: Postgres down for %s with %d jobs completed and %d processing",
			i, time.Since(stopped).Round(time.Millisecond), completed, processing)
	}
	r.waitAllFinished(time.Duration(faultSize(3, 10)) * time.Minute)
	for _, p := range procs {
		require.True(t, p.running(), "%s exited when Postgres restarted:\n%s", p.name, p.log())
	}
	stats := r.requireInvariants(ids, nil)
	t.Logf("postgres restarts: %d; %s", restarts, stats)
}

// complaints counts the warnings and errors in a process's log.
func complaints(log string) int { return logLines(log, "level=WARN") + logLines(log, "level=ERROR") }

// SIGTERM on `serve` and on `worker` mid-way through their jobs: the
// process lets its running sections finish and save, gives its unfinished
// jobs back to pending at once (none is left for a lease to expire: the
// lease here outlasts the test), and exits 0 well within the drain period.
// Another worker then finishes the released jobs without recomputing a
// section.
func TestFaultSIGTERM(t *testing.T) {
	for _, kind := range []string{"serve", "worker"} {
		t.Run(kind, func(t *testing.T) { faultSIGTERM(t, kind) })
	}
}

func faultSIGTERM(t *testing.T, kind string) {
	const drain = 10 * time.Second
	workers := faultSize(3, 8)
	r := newFaultRig(t, pgtest.URL(t), "CODECHECK_FAKE_LLM_LATENCY=400ms", "CODECHECK_SECTION_CONCURRENCY=2",
		"CODECHECK_LEASE=5m", "CODECHECK_DRAIN_TIMEOUT="+drain.String())
	ids := r.createJobs(faultSize(6, 24))
	p := r.start(kind, fmt.Sprintf("CODECHECK_WORKERS=%d", workers))
	waitFor(t, kind+" to be mid-way through its jobs", time.Minute, func() bool {
		var n int
		r.queryRow(`SELECT count(*) FROM jobs j WHERE j.status = 'processing' AND j.worker = $1 AND
			(SELECT count(*) FROM sections s WHERE s.job_id = j.id AND s.status = 'completed') >= 2`, p.worker).scan(&n)
		return n == workers
	})
	held := r.heldIDs(p)

	began := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.waitExit(t, drain+30*time.Second)
	took := time.Since(began)
	require.Equal(t, 0, code, "exit code after SIGTERM")
	require.Less(t, took, drain, "the drain waited out its whole period instead of ending with the running sections")
	var processing int
	r.queryRow(`SELECT count(*) FROM jobs WHERE status = 'processing'`).scan(&processing)
	require.Zero(t, processing, "a job was left processing, waiting for its lease")

	calls := r.calls()
	released := 0
	for _, id := range held {
		j := r.job(id)
		require.Contains(t, []domain.JobStatus{domain.JobPending, domain.JobCompleted}, j.Status, "job %s after SIGTERM", id)
		if j.Status == domain.JobPending {
			released++
		}
		secs, err := r.store.Sections(context.Background(), id)
		require.NoError(t, err)
		status := map[string]domain.SectionStatus{}
		for _, s := range secs {
			status[s.Key] = s.Status
		}
		for key := range calls[id] {
			require.Equal(t, domain.SectionCompleted, status[key], "job %s: section %s was running at SIGTERM and was not saved", id, key)
		}
	}
	require.Positive(t, released, "no job was released: SIGTERM came too late to test the drain")

	r.start("worker", "CODECHECK_WORKERS=4")
	r.waitAllFinished(2 * time.Minute)
	stats := r.requireInvariants(ids, nil)
	for _, id := range held {
		require.Equal(t, 2, r.job(id).Attempt, "job %s: one attempt before SIGTERM, one after", id)
	}
	t.Logf("SIGTERM on %s: exited 0 in %s, %d of its %d jobs released; %s", kind, took.Round(time.Millisecond), released, len(held), stats)
}

// heldIDs lists the jobs p holds.
func (r *faultRig) heldIDs(p *faultProc) []string {
	r.t.Helper()
	rows, err := r.db.Query(context.Background(), `SELECT id FROM jobs WHERE status = 'processing' AND worker = $1`, p.worker)
	require.NoError(r.t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(r.t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(r.t, rows.Err())
	return ids
}

// A zombie worker: stopped (SIGSTOP) mid-job, with sections in flight, for
// longer than its lease, until another worker has taken the job over; then
// resumed (SIGCONT). Its in-flight answers come back and it tries to save
// them, but the attempt is fenced: nothing it writes lands, it gives the
// job up, and the new owner finishes it. The soak repeats it with a new
// zombie each round.
func TestFaultZombieWorker(t *testing.T) {
	const lease = 2 * time.Second
	base := pgtest.URL(t)
	r := newFaultRig(t, base, "CODECHECK_FAKE_LLM_LATENCY=800ms", "CODECHECK_SECTION_CONCURRENCY=12",
		"CODECHECK_LEASE="+lease.String(), "CODECHECK_MAX_ATTEMPTS=10")
	var ids, victims []string
	var zombies []*faultProc
	others := 0 // job slots of the workers other than this round's zombie
	for round := 1; round <= faultSize(1, 4); round++ {
		appName := fmt.Sprintf("codecheck-zombie-%d-%d", round, time.Now().UnixNano())
		zombie := r.start("worker", "CODECHECK_WORKERS=1", "DATABASE_URL="+pgtest.WithParam(t, base, "application_name", appName))
		zombies = append(zombies, zombie)
		// More jobs than the other workers can take, so the zombie gets one.
		ids = append(ids, r.createJobs(others+2)...)

		var victim string
		var attempt int
		waitFor(t, "the zombie to be mid-job with sections in flight", time.Minute, func() bool {
			held := r.heldIDs(zombie)
			if len(held) == 0 {
				return false
			}
			victim = held[0]
			j := r.job(victim)
			attempt = j.Attempt
			return j.Done >= 1 && j.Done < 13 && len(r.inFlight(victim, attempt)) > 0
		})
		r.stopOutsideTransaction(zombie, appName)
		frozen := time.Now()
		inFlight := r.inFlight(victim, attempt)
		require.NotEmpty(t, inFlight, "no section in flight when the zombie stopped")
		var leaseEnd time.Time
		r.queryRow(`SELECT lease_expires_at FROM jobs WHERE id = $1`, victim).scan(&leaseEnd)

		if round == 1 {
			r.start("worker", "CODECHECK_WORKERS=2")
			others += 2
		}
		var taker string
		waitFor(t, "another worker to take the job over", time.Minute, func() bool {
			var now int
			r.queryRow(`SELECT attempt, worker FROM jobs WHERE id = $1`, victim).scan(&now, &taker)
			return now > attempt && taker != "" && taker != zombie.worker
		})
		require.True(t, time.Now().After(leaseEnd), "taken over before the zombie's lease ended")
		require.Equal(t, "T", procState(t, zombie), "the zombie is still stopped")

		stopped := time.Since(frozen)
		zombie.signal(t, syscall.SIGCONT)
		waitFor(t, "the zombie to give the job up", time.Minute, func() bool {
			return logLines(zombie.log(), "job_id="+victim, "taken over") > 0
		})
		t.Logf("zombie %d: stopped for %s (lease %s) at attempt %d with %d sections in flight (%s); taken over by %s",
			round, stopped.Round(time.Millisecond), lease, attempt, len(inFlight), strings.Join(inFlight, ", "), taker)
		victims = append(victims, victim)
		others++ // this zombie works on as an ordinary worker
	}
	r.waitAllFinished(2 * time.Minute)
	for _, z := range zombies {
		require.True(t, z.running(), "%s exited after SIGCONT:\n%s", z.name, z.log())
	}
	stats := r.requireInvariants(ids, nil)
	for _, v := range victims {
		require.GreaterOrEqual(t, r.job(v).Attempt, 2, "job %s", v)
	}
	t.Logf("zombies: %d; %s", len(zombies), stats)
}

// inFlight lists the sections of job id that attempt asked the provider
// for and has not saved completed.
func (r *faultRig) inFlight(id string, attempt int) []string {
	r.t.Helper()
	secs, err := r.store.Sections(context.Background(), id)
	require.NoError(r.t, err)
	completed := map[string]bool{}
	for _, s := range secs {
		completed[s.Key] = s.Status == domain.SectionCompleted
	}
	var keys []string
	for key, attempts := range r.calls()[id] {
		if callsBy(attempts, attempt) > 0 && !completed[key] {
			keys = append(keys, key)
		}
	}
	return keys
}

// stopOutsideTransaction SIGSTOPs p at a moment when none of its database
// connections (application_name appName) is inside a transaction,
// resuming it and trying again (up to a deadline) until it is: a process
// frozen inside one would hold row locks, which is not this fault.
func (r *faultRig) stopOutsideTransaction(p *faultProc, appName string) {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for try := 1; time.Now().Before(deadline); try++ {
		p.signal(r.t, syscall.SIGSTOP)
		open, _ := r.openTransactions(appName)
		if open == 0 {
			// A query sent just before the stop may not have reached the
			// server yet: look once more.
			time.Sleep(100 * time.Millisecond)
			open, _ = r.openTransactions(appName)
		}
		if open == 0 {
			return
		}
		p.signal(r.t, syscall.SIGCONT)
		time.Sleep(time.Duration(try%40) * time.Millisecond) // pacing: the next stop lands elsewhere
	}
	r.t.Fatalf("could not stop %s outside a transaction", p.name)
}

// openTransactions waits until the queries of the stopped process's
// connections (application_name appName) have ended, and returns how many
// of them are left inside a transaction, and how many of those have
// written.
func (r *faultRig) openTransactions(appName string) (open, writing int) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var active int
		r.queryRow(`SELECT count(*) FILTER (WHERE state = 'active'),
				count(*) FILTER (WHERE state LIKE 'idle in transaction%'),
				count(*) FILTER (WHERE state LIKE 'idle in transaction%' AND backend_xid IS NOT NULL)
			FROM pg_stat_activity WHERE application_name = $1`, appName).scan(&active, &open, &writing)
		if active == 0 || open > 0 { // queries queued behind an open transaction's lock stay active
			return open, writing
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the stopped process's queries did not end:\n%s", r.activity(appName))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A worker stopped at any moment of its work holds no transaction that
// has written, so no row lock: on Postgres the claim, each save and a
// completed job's finish are one statement each, which commits on the
// server whatever becomes of the client. (The rarer transactions left, a
// failed job's finish and a release, are bounded by
// idle_in_transaction_session_timeout: TestIdleInTransactionTimeout in
// adapters/store/postgres.) Stopped many times while it works, it is never
// caught inside one. Then it is frozen where it happens to be, past its
// lease: the other workers take its jobs over and finish every job while
// it is still stopped, and, resumed, it finds its attempts fenced.
func TestFaultZombieHoldsNoTransaction(t *testing.T) {
	base := pgtest.URL(t)
	appName := fmt.Sprintf("codecheck-frozen-%d", time.Now().UnixNano())
	r := newFaultRig(t, base, "CODECHECK_FAKE_LLM_LATENCY=200ms", "CODECHECK_SECTION_CONCURRENCY=12",
		"CODECHECK_LEASE=2s", "CODECHECK_MAX_ATTEMPTS=10")
	zombie := r.start("worker", "CODECHECK_WORKERS=2", "DATABASE_URL="+pgtest.WithParam(t, base, "application_name", appName))
	ids := r.createJobs(faultSize(40, 80))
	waitFor(t, "the zombie to hold a job", time.Minute, func() bool { return len(r.heldIDs(zombie)) > 0 })

	stops, open := 0, 0
	for try := 1; try <= faultSize(150, 600) && len(r.heldIDs(zombie)) > 0; try++ {
		zombie.signal(t, syscall.SIGSTOP)
		inTx, writing := r.openTransactions(appName)
		require.Zero(t, writing, "stop %d caught the worker inside a transaction that has written:\n%s", try, r.activity(appName))
		stops, open = stops+1, open+inTx
		zombie.signal(t, syscall.SIGCONT)
		time.Sleep(time.Duration(try%25) * time.Millisecond) // pacing: the next stop lands elsewhere
	}
	require.NotZero(t, stops, "the zombie finished its jobs before it could be stopped")
	t.Logf("%d stops while the worker worked: none inside a transaction that had written (%d inside one that had not)", stops, open)

	ids = append(ids, r.createJobs(faultSize(10, 20))...)
	waitFor(t, "the zombie to hold a job", time.Minute, func() bool { return len(r.heldIDs(zombie)) > 0 })
	zombie.signal(t, syscall.SIGSTOP)
	frozen, held := time.Now(), r.heldIDs(zombie)
	r.start("worker", "CODECHECK_WORKERS=2")
	r.waitAllFinished(time.Duration(faultSize(1, 3)) * time.Minute)
	require.Equal(t, "T", procState(t, zombie), "the zombie is still stopped")
	t.Logf("frozen holding %v: every job finished %s later, the zombie still frozen", held, time.Since(frozen).Round(time.Millisecond))

	zombie.signal(t, syscall.SIGCONT)
	for _, id := range held {
		waitFor(t, "the zombie to give its job up", time.Minute, func() bool {
			return logLines(zombie.log(), "job_id="+id, "taken over") > 0
		})
	}
	require.True(t, zombie.running(), "the zombie exited after SIGCONT:\n%s", zombie.log())
	stats := r.requireInvariants(ids, nil)
	t.Logf("zombie frozen past its lease: %s", stats)
}

// procState is the process's state letter from /proc (T: stopped).
func procState(t *testing.T, p *faultProc) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	require.NoError(t, err)
	// pid (comm) state ...: comm may hold spaces, so read after the last ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndex(s, ")")+1:])
	return fields[0]
}

// activity describes the connections named appName, for a failure message.
func (r *faultRig) activity(appName string) string {
	rows, err := r.db.Query(context.Background(), `SELECT pid, coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, ''), query
		FROM pg_stat_activity WHERE application_name = $1`, appName)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var pid int
		var state, waitType, wait, query string
		if err := rows.Scan(&pid, &state, &waitType, &wait, &query); err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "%d %s %s/%s %q\n", pid, state, waitType, wait, query)
	}
	return b.String()
}
