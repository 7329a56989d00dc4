package domain

import (
	"errors"
	"maps"
	"slices"
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
		if err := j.CheckRetry(); (err == nil) != (s == JobFailed || s == JobCanceled) {
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
	for _, bad := range []SectionResult{{Key: "energy_code", Status: SectionCompleted}, {Key: "zoning_use", Status: "bogus"},
		{Key: "zoning_use", Status: SectionCanceled}} {
		if _, err := j.SectionOrdinal(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestCloseSections(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	started := at.Add(-time.Minute)
	keys := []string{JurisdictionKey, "zoning_use", "energy_code", "accessibility", "utilities_site"}
	saved := []SectionResult{
		{Key: JurisdictionKey, Status: SectionCompleted},
		{Key: "zoning_use", Status: SectionRunning, StartedAt: &started},
		{Key: "energy_code", Status: SectionFailed, Error: "provider said no"},
		{Key: "accessibility", Status: SectionPending},
		// utilities_site was never saved
	}
	statuses := func(cs []ClosedSection) map[string]SectionStatus {
		out := map[string]SectionStatus{}
		for _, c := range cs {
			if keys[c.Ordinal-1] != c.Result.Key {
				t.Errorf("%s: ordinal %d", c.Result.Key, c.Ordinal)
			}
			out[c.Result.Key] = c.Result.Status
		}
		return out
	}

	canceled := Job{ID: "j", Status: JobCanceled, Sections: keys}.CloseSections(saved, at)
	want := map[string]SectionStatus{"zoning_use": SectionCanceled, "accessibility": SectionCanceled, "utilities_site": SectionCanceled}
	if got := statuses(canceled); !maps.Equal(got, want) {
		t.Errorf("canceled job: got %v, want %v", got, want)
	}
	for _, c := range canceled {
		if c.Result.Key == "zoning_use" && (c.Result.FinishedAt == nil || !c.Result.FinishedAt.Equal(at) || c.Result.StartedAt != &started) {
			t.Errorf("a started section keeps its start and ends at the cancel: %+v", c.Result)
		}
		if c.Result.Key == "utilities_site" && (c.Result.Title == "" || c.Result.FinishedAt != nil) {
			t.Errorf("a section never started gets its catalogue entry and no times: %+v", c.Result)
		}
	}

	failed := Job{ID: "j", Status: JobFailed, Sections: keys}.CloseSections(saved, at)
	if got := statuses(failed); !maps.Equal(got, map[string]SectionStatus{"zoning_use": SectionFailed}) {
		t.Errorf("failed job: got %v", got)
	}
	if got := (Job{ID: "j", Status: JobCompleted, Sections: keys}).CloseSections(saved, at); len(got) != 0 {
		t.Errorf("completed job: got %v", got)
	}
	// A store reads a job's sections at its end only when the end can
	// close some: a cancel or a failure.
	for st, want := range map[JobStatus]bool{JobPending: false, JobProcessing: false, JobCompleted: false,
		JobFailed: true, JobCanceled: true} {
		if got := st.ClosesSections(); got != want {
			t.Errorf("%s: ClosesSections %v, want %v", st, got, want)
		}
	}
}

func TestSectionSavedEvents(t *testing.T) {
	before := Job{ID: "j", Sections: []string{JurisdictionKey, "zoning_use"}, Attempt: 1}
	after := before
	for _, c := range []struct {
		status SectionStatus
		done   int
		want   []EventType
	}{
		{SectionPending, 0, nil},
		{SectionRunning, 0, []EventType{EventSection}},
		{SectionFailed, 0, []EventType{EventSection}},
		{SectionCompleted, 1, []EventType{EventSection, EventJob}},
	} {
		after.Done = c.done
		evs := SectionSavedEvents(before, after, SectionResult{Key: "zoning_use", Status: c.status})
		var got []EventType
		for _, e := range evs {
			got = append(got, e.Type)
			if e.Type == EventSection && (e.Status != string(c.status) || e.Section != "zoning_use") {
				t.Errorf("%s: %+v", c.status, e)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.status, got, c.want)
		}
	}
}
