package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/adapters/store/sqlite"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

// A `codecheck work` process killed with SIGKILL mid-job leaves its lease to
// expire; `codecheck work --job-id` on the same job then completes it, and
// no section completed before the kill is asked of the provider again.
func TestWorkResumesAfterSIGKILL(t *testing.T) {
	rig := newCrashRig(t, false)
	store, env, callLog, job, ctx := rig.store, rig.env, rig.callLog, rig.job, context.Background()
	rig.killWorkWhen(t, "three completed sections", func(j domain.Job) bool { return j.Done >= 3 })

	before, err := store.Sections(ctx, job.ID)
	require.NoError(t, err)
	completed := map[string]bool{}
	for _, s := range before {
		if s.Status == domain.SectionCompleted {
			completed[s.Key] = true
		}
	}
	require.GreaterOrEqual(t, len(completed), 3)
	require.Less(t, len(completed), 13, "the kill came after the job was done")

	held, err := store.Get(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobProcessing, held.Status, "the killed worker's lease still holds the job")
	stillLeased := held.LeaseExpiresAt != nil && time.Until(*held.LeaseExpiresAt) > time.Second
	r := run(t, env, "work", "--job-id", job.ID)
	require.Equal(t, 0, r.code, r.stderr)
	if stillLeased { // on a very slow machine the lease may be gone before the second worker starts
		require.Contains(t, r.stderr, "waiting for its lease to expire")
	}
	require.Contains(t, r.stdout, "completed (13/13)")

	final, err := store.Get(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, final.Status)
	require.Equal(t, 2, final.Attempt)
	require.Equal(t, "13/13", final.Progress())

	calls := readCalls(t, callLog)
	for _, c := range calls {
		if c.attempt == "2" {
			require.False(t, completed[c.section], "section %s completed by attempt 1 was called again", c.section)
		}
	}
	// Attempt 2 made exactly the calls for the sections attempt 1 had not completed.
	var second []string
	for _, c := range calls {
		if c.attempt == "2" {
			second = append(second, c.section)
		}
	}
	require.Len(t, second, 13-len(completed))

	// Running it again does nothing: the job is finished.
	again := run(t, env, "work", "--job-id", job.ID)
	require.Equal(t, 0, again.code, again.stderr)
	require.Contains(t, again.stdout, "already completed; not running it again")
	require.Len(t, readCalls(t, callLog), len(calls))
}

type call struct{ job, section, attempt string }

func readCalls(t *testing.T, path string) []call {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []call
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		require.Len(t, parts, 3, sc.Text())
		out = append(out, call{parts[0], parts[1], parts[2]})
	}
	return out
}

// With --wait=false a second worker for a job another worker is running
// exits at once instead of waiting for the lease (the Modal function's mode).
func TestWorkNoWaitLeavesAHeldJobAlone(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "codecheck.db")
	ctx := context.Background()
	store, err := sqlite.Open(ctx, dbPath)
	require.NoError(t, err)
	defer store.Close()
	provider, err := fake.New(fake.Config{})
	require.NoError(t, err)
	providers, err := app.NewProviders("fake", provider)
	require.NoError(t, err)
	svc, err := app.NewService(app.ServiceConfig{Store: store, Changes: store, Providers: providers})
	require.NoError(t, err)
	job, _, err := svc.Submit(ctx, app.SubmitRequest{Address: "350 Fifth Ave, New York, NY 10118", Provider: "fake"})
	require.NoError(t, err)

	env := baseEnv(t, "DATABASE_URL=sqlite:"+dbPath, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=300ms",
		"CODECHECK_SECTION_CONCURRENCY=2")
	first := exec.Command(binary, "work", "--job-id", job.ID)
	first.Env = env
	require.NoError(t, first.Start())
	defer first.Process.Kill()
	waitFor(t, "the first worker to claim the job", time.Minute, func() bool {
		j, err := store.Get(ctx, job.ID)
		return err == nil && j.Status == domain.JobProcessing
	})

	second := run(t, env, "work", "--job-id", job.ID, "--wait=false")
	require.Equal(t, 0, second.code, second.stderr)
	require.Contains(t, second.stdout, "is being run by another worker; not waiting")

	require.NoError(t, first.Wait())
	final, err := store.Get(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, final.Status)
	require.Equal(t, 1, final.Attempt, "the second worker took no attempt")
}

// crashRig is a job on a fresh SQLite file and the environment of the
// `work` processes that run it: the fake provider at 300 ms a call, two
// sections at once, a 3 s lease, every call logged.
type crashRig struct {
	store   *sqlite.Store
	env     []string
	callLog string
	job     domain.Job
}

func newCrashRig(t *testing.T, verify bool) crashRig {
	t.Helper()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "codecheck.db")
	r := crashRig{callLog: filepath.Join(dir, "calls.log")}
	ctx := context.Background()
	store, err := sqlite.Open(ctx, dbPath)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	provider, err := fake.New(fake.Config{})
	require.NoError(t, err)
	providers, err := app.NewProviders("fake", provider)
	require.NoError(t, err)
	svc, err := app.NewService(app.ServiceConfig{Store: store, Changes: store, Providers: providers})
	require.NoError(t, err)
	req := app.SubmitRequest{Address: "350 Fifth Ave, New York, NY 10118", Provider: "fake"}
	if verify {
		req.Verify = &verify
	}
	r.store = store
	r.job, _, err = svc.Submit(ctx, req)
	require.NoError(t, err)
	r.env = baseEnv(t, "DATABASE_URL=sqlite:"+dbPath, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=300ms",
		"CODECHECK_FAKE_LLM_LOG="+r.callLog, "CODECHECK_SECTION_CONCURRENCY=2", "CODECHECK_LEASE=3s")
	return r
}

// killWorkWhen starts `work` on the rig's job and SIGKILLs it as soon as
// the stored job satisfies ready.
func (r crashRig) killWorkWhen(t *testing.T, what string, ready func(domain.Job) bool) {
	t.Helper()
	cmd := exec.Command(binary, "work", "--job-id", r.job.ID)
	cmd.Env = r.env
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	waitFor(t, what, time.Minute, func() bool {
		j, err := r.store.Get(context.Background(), r.job.ID)
		return err == nil && ready(j)
	})
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
}
