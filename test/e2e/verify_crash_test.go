package e2e

import (
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

// A `codecheck work` process killed with SIGKILL in the middle of a
// verify job's verifications: the next `work` verifies the sections left
// unverified (researching none that was completed), repeats no finished
// verification, and ends with every section verified.
func TestWorkResumesVerificationAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "codecheck.db")
	callLog := filepath.Join(dir, "calls.log")
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
	on := true
	job, _, err := svc.Submit(ctx, app.SubmitRequest{Address: "350 Fifth Ave, New York, NY 10118", Provider: "fake", Verify: &on})
	require.NoError(t, err)

	env := baseEnv(t, "DATABASE_URL=sqlite:"+dbPath, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=300ms",
		"CODECHECK_FAKE_LLM_LOG="+callLog, "CODECHECK_SECTION_CONCURRENCY=2", "CODECHECK_LEASE=3s")
	cmd := exec.Command(binary, "work", "--job-id", job.ID)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	waitFor(t, "three verified sections", time.Minute, func() bool {
		j, err := store.Get(ctx, job.ID)
		return err == nil && j.Verified >= 3
	})
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	before, err := store.Sections(ctx, job.ID)
	require.NoError(t, err)
	completed, verified := map[string]bool{}, map[string]bool{}
	for _, s := range before {
		completed[s.Key] = s.Status == domain.SectionCompleted
		verified[s.Key] = s.VerifiedAt != nil
	}
	nVerified := trueCount(verified)
	require.GreaterOrEqual(t, nVerified, 3)
	require.Less(t, nVerified, 13, "the kill came after every verification")
	t.Logf("killed with %d sections completed, %d verified", trueCount(completed), nVerified)

	r := run(t, env, "work", "--job-id", job.ID)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "completed (13/13)")
	final, err := store.Get(ctx, job.ID)
	require.NoError(t, err)
	require.Equal(t, domain.JobCompleted, final.Status)
	require.Equal(t, 2, final.Attempt)
	require.Equal(t, "13/13", final.VerifiedProgress())

	var research, verifications []string
	for _, c := range readCalls(t, callLog) {
		if c.attempt != "2" {
			continue
		}
		if key, ok := strings.CutSuffix(c.section, "/verify"); ok {
			require.False(t, verified[key], "section %s verified by attempt 1 was verified again", key)
			verifications = append(verifications, key)
		} else {
			require.False(t, completed[c.section], "section %s completed by attempt 1 was researched again", c.section)
			research = append(research, c.section)
		}
	}
	require.Len(t, research, 13-trueCount(completed), "attempt 2 researched only what attempt 1 had not")
	require.Len(t, verifications, 13-nVerified, "attempt 2 verified each section left unverified, once")
}

func trueCount(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
