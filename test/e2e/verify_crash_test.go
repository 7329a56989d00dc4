package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

// A `codecheck work` process killed with SIGKILL in the middle of a
// verify job's verifications: the next `work` verifies the sections left
// unverified (researching none that was completed), repeats no finished
// verification, and ends with every section verified.
func TestWorkResumesVerificationAfterSIGKILL(t *testing.T) {
	rig := newCrashRig(t, true)
	store, env, callLog, job, ctx := rig.store, rig.env, rig.callLog, rig.job, context.Background()
	rig.killWorkWhen(t, "three verified sections", func(j domain.Job) bool { return j.Verified >= 3 })

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
