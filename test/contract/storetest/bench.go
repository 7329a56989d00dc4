package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// BenchClaimSave measures a worker's hot path on s: claim the oldest pending
// job and save one completed section result. With parallel set, GOMAXPROCS
// goroutines do it at once (b.SetParallelism scales that). Jobs are created
// before the timer starts.
func BenchClaimSave(b *testing.B, s ports.JobStore, parallel bool) {
	ctx := context.Background()
	for range b.N {
		if _, _, err := s.Create(ctx, newJob()); err != nil {
			b.Fatal(err)
		}
	}
	result := fullSection(NewFakeClock(Start))
	result.Key = domain.JurisdictionKey
	step := func() error {
		job, err := s.Claim(ctx, ports.ClaimRequest{Worker: "bench", Lease: time.Minute})
		if err != nil {
			return err
		}
		return s.SaveSection(ctx, leaseOf(job), result)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for range b.N {
			if err := step(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := step(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
