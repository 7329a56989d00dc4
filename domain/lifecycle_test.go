package domain

import (
	"errors"
	"testing"
	"time"
)

func TestCheckClaim(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	live, gone := now.Add(time.Second), now
	for _, c := range []struct {
		job  Job
		want error
	}{
		{Job{Status: JobPending}, nil},
		{Job{Status: JobProcessing, LeaseExpiresAt: &gone}, nil},
		{Job{Status: JobProcessing, LeaseExpiresAt: &live}, ErrLeaseHeld},
		{Job{Status: JobCompleted}, ErrConflict},
		{Job{Status: JobFailed}, ErrConflict},
		{Job{Status: JobCanceled}, ErrConflict},
	} {
		if err := c.job.CheckClaim(now); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s lease %v: got %v, want %v", c.job.Status, c.job.LeaseExpiresAt, err, c.want)
		}
	}
}

func TestCancelRetryFinishFollowTheLifecycle(t *testing.T) {
	for _, s := range JobStatuses {
		j := Job{ID: "j", Status: s}
		if err := j.CheckCancel(); (err == nil) != (s == JobPending || s == JobProcessing) {
			t.Errorf("cancel from %s: %v", s, err)
		}
		if err := j.CheckRetry(); (err == nil) != (s == JobFailed) {
			t.Errorf("retry from %s: %v", s, err)
		}
		if err := CheckFinish(s); (err == nil) != (s == JobCompleted || s == JobFailed) {
			t.Errorf("finish with %s: %v", s, err)
		}
	}
}

func TestCheckReplay(t *testing.T) {
	prev := Job{ID: "j", RequestHash: "a"}
	if err := prev.CheckReplay(Job{RequestHash: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := prev.CheckReplay(Job{RequestHash: "b"}); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("got %v", err)
	}
}

func TestLeaseArithmetic(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if until, err := LeaseUntil(now, 30*time.Second); err != nil || !until.Equal(now.Add(30*time.Second)) {
		t.Fatalf("got %v, %v", until, err)
	}
	if _, err := LeaseUntil(now, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a zero lease: %v", err)
	}
	for _, c := range []struct {
		used, max int
		out       bool
	}{{0, 3, false}, {2, 3, false}, {3, 3, true}, {1, 0, true}} {
		if got := OutOfAttempts(c.used, c.max); got != c.out {
			t.Errorf("OutOfAttempts(%d, %d) = %v", c.used, c.max, got)
		}
	}
}

func TestSectionOrdinal(t *testing.T) {
	j := Job{ID: "j", Sections: []string{"jurisdiction", "zoning_use"}}
	if n, err := j.SectionOrdinal(SectionResult{Key: "zoning_use", Status: SectionCompleted}); err != nil || n != 2 {
		t.Fatalf("got %d, %v", n, err)
	}
	for _, bad := range []SectionResult{{Key: "energy_code", Status: SectionCompleted}, {Key: "zoning_use", Status: "bogus"}} {
		if _, err := j.SectionOrdinal(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
