package app_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// TestSectionsWaitForTheProviderOnSmallStacks holds many sections in their
// provider calls, research and verification, and asks the runtime how big
// it now starts a goroutine's stack: the average stack in use at the last
// collection, rounded up to a power of two (/gc/stack/starting-size).
// Sections waiting for the provider are most of an in-flight job's
// goroutines, so when the frames on their way to that wait grow past about
// 7 KiB, every goroutine starts at 16 KiB instead of 8 and the collector's
// goal grows with them: 1,000 jobs in flight took 165-183 MB instead of
// 137-149 (bench/inflight.sh).
func TestSectionsWaitForTheProviderOnSmallStacks(t *testing.T) {
	const jobs, waiting = 8, 12 // every section but the jurisdiction at once; with verify on, its verification is one of them
	parked := make(chan struct{}, 2*jobs*(waiting+1))
	release := make(chan struct{})
	llm := &scripted{answer: func(ctx context.Context, req ports.SectionRequest, _ int) (ports.SectionResponse, error) {
		if req.Section.Key == domain.JurisdictionKey && len(req.Verify) == 0 {
			return good(req), nil
		}
		parked <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		if len(req.Verify) > 0 {
			return verdicts(req), nil
		}
		return good(req), nil
	}}
	e := newEnv(t, llm, func(c *app.WorkerConfig) { c.SectionConcurrency = waiting })
	var wg sync.WaitGroup
	for i := range jobs {
		job, _, err := e.svc.Submit(context.Background(), app.SubmitRequest{Address: "1 Main St, Springfield, IL",
			Provider: "scripted", Verify: new(i%2 == 0)}) // half of them wait in verification too
		require.NoError(t, err)
		wg.Go(func() {
			_, err := e.w.Work(context.Background(), job.ID, false)
			assert.NoError(t, err)
		})
	}
	for range jobs * waiting {
		<-parked
	}
	runtime.GC()
	starting := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(starting)
	close(release)
	wg.Wait()
	require.LessOrEqual(t, starting[0].Value.Uint64(), uint64(8<<10),
		"goroutines now start with larger stacks: the frames on the way to the provider grew")
}
