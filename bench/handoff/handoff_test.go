// Package handoff measures how fast dispatchers hand a burst of jobs to the
// Modal executor: 1,000 pending jobs in Postgres, a fake Modal control plane
// (test/modalfake) that answers every RPC after 20 ms, and 1 or 3
// dispatchers (replicas) side by side. It reports the time until every job
// was spawned, and checks that each was spawned once.
//
//	go test ./bench/handoff -run '^$' -bench . -benchtime 1x
package handoff

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/codecheck/codecheck/adapters/executor/modal"
	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/modalfake"
	"github.com/codecheck/codecheck/test/pgtest"
)

const (
	jobs       = 1000
	rpcLatency = 20 * time.Millisecond
)

func BenchmarkHandoff1000Jobs(b *testing.B) {
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			for range b.N {
				elapsed := handOff(b, replicas)
				b.ReportMetric(elapsed.Seconds(), "s/1000-spawns")
				b.ReportMetric(float64(jobs)/elapsed.Seconds(), "spawns/s")
			}
		})
	}
}

func handOff(b *testing.B, replicas int) time.Duration {
	b.StopTimer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := modalfake.Start(b, modalfake.Options{Latency: rpcLatency})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	url := pgtest.URL(b)
	quiet := slog.New(slog.DiscardHandler)
	store, err := postgres.Open(ctx, url, postgres.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	for range jobs {
		j := domain.Job{ID: uuid.Must(uuid.NewV7()).String(), Address: "1 Main St, Springfield", Provider: "fake",
			Sections: domain.SectionKeys()}
		if _, _, err := store.Create(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	start := time.Now()
	b.StartTimer()
	for i := range replicas {
		s, err := postgres.Open(ctx, url, postgres.WithLogger(quiet))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		ex, err := modal.New(ctx, modal.Config{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		defer ex.Close()
		d, err := app.NewDispatcher(app.DispatcherConfig{Store: s, Changes: s, Executor: ex, Logger: quiet,
			Owner: fmt.Sprint("replica-", i)})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { _ = d.Run(ctx) })
	}
	for len(fake.Spawns()) < jobs {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("only %d of %d jobs spawned after 5 minutes", len(fake.Spawns()), jobs)
		}
		time.Sleep(5 * time.Millisecond) // polling a counter with a deadline, not synchronisation
	}
	elapsed := time.Since(start)
	b.StopTimer()
	seen := map[any]int{}
	for _, sp := range fake.Spawns() {
		seen[sp.Args[0]]++
	}
	for id, n := range seen {
		if n != 1 {
			b.Errorf("job %v spawned %d times", id, n)
		}
	}
	b.Logf("%d replicas: %d jobs spawned in %s (%d spawns in all)", replicas, len(seen), elapsed.Round(time.Millisecond), len(fake.Spawns()))
	return elapsed
}
