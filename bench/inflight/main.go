// Command inflight measures a running `codecheck serve` with many jobs in
// flight at once: it submits -jobs jobs as fast as -concurrency clients
// can, samples the server's /metrics (goroutines, resident memory) until
// every job has ended, and reports the peaks (with the bytes of goroutine
// stacks in use at the goroutine peak, and the most jobs running at once,
// from their started_at and finished_at), how long submitting took,
// and each job's run time (finished_at - started_at) against the ideal
// (two rounds of provider latency: the jurisdiction, then the rest in
// parallel).
//
//	go run ./bench/inflight -url http://127.0.0.1:8080 -jobs 1000 -latency 1s
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "base URL of codecheck serve")
	metricsURL := flag.String("metrics", "", "base URL of the /metrics endpoint (serve's own address; a worker's CODECHECK_METRICS_ADDR); default: -url")
	jobs := flag.Int("jobs", 1000, "jobs to submit")
	concurrency := flag.Int("concurrency", 32, "clients submitting at once")
	latency := flag.Duration("latency", time.Second, "the fake provider's latency, for the ideal run time")
	flag.Parse()
	if *metricsURL == "" {
		*metricsURL = *base
	}
	hc := &http.Client{Timeout: 30 * time.Second}

	var peakG, peakRSS, stackAtPeakG atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sample /metrics until told to stop
		defer close(sampled)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := sample(hc, *metricsURL+"/metrics"); err == nil {
				if m.goroutines > peakG.Load() {
					peakG.Store(m.goroutines)
					stackAtPeakG.Store(m.stack)
				}
				maxInto(&peakRSS, m.rss)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()

	start := time.Now()
	ids := make([]string, *jobs)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range *concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= *jobs {
					return
				}
				id, err := submit(hc, *base)
				if err != nil {
					failed.Add(1)
					fmt.Fprintln(os.Stderr, "inflight: submit:", err)
					continue
				}
				ids[i] = id
			}
		})
	}
	wg.Wait()
	submitted := time.Since(start)
	if failed.Load() > 0 {
		fmt.Fprintf(os.Stderr, "inflight: %d submissions failed\n", failed.Load())
		os.Exit(1)
	}

	var runs []time.Duration
	var spans [][2]time.Time // each job's started_at and finished_at
	deadline := time.Now().Add(30 * time.Minute)
	for _, id := range ids {
		for {
			j, err := get(hc, *base, id)
			if err == nil && (j.Status == "completed" || j.Status == "failed" || j.Status == "canceled") {
				if j.Status != "completed" {
					fmt.Fprintf(os.Stderr, "inflight: job %s ended %s: %s\n", id, j.Status, j.Error)
				}
				if j.StartedAt != nil && j.FinishedAt != nil {
					runs = append(runs, j.FinishedAt.Sub(*j.StartedAt))
					spans = append(spans, [2]time.Time{*j.StartedAt, *j.FinishedAt})
				}
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "inflight: job %s did not end in time\n", id)
				os.Exit(1)
			}
			time.Sleep(200 * time.Millisecond) // polling pace, not synchronisation
		}
	}
	all := time.Since(start)
	close(stop)
	<-sampled

	slices.Sort(runs)
	var sum time.Duration
	for _, r := range runs {
		sum += r
	}
	mean := sum / time.Duration(max(len(runs), 1))
	ideal := 2 * *latency
	fmt.Printf("RESULT jobs=%d submit_s=%.2f submit_rps=%.0f all_done_s=%.2f peak_in_flight=%d peak_goroutines=%d peak_rss_mb=%.0f "+
		"stack_mb_at_peak_goroutines=%.1f stack_kb_per_goroutine=%.1f "+
		"run_mean_s=%.2f run_p50_s=%.2f run_p99_s=%.2f ideal_s=%.2f mean_over_ideal=%.2f\n",
		len(ids), submitted.Seconds(), float64(len(ids))/submitted.Seconds(), all.Seconds(), peakInFlight(spans), peakG.Load(),
		float64(peakRSS.Load())/(1<<20), float64(stackAtPeakG.Load())/(1<<20),
		float64(stackAtPeakG.Load())/1024/float64(max(peakG.Load(), 1)), mean.Seconds(), pct(runs, 50).Seconds(), pct(runs, 99).Seconds(),
		ideal.Seconds(), mean.Seconds()/ideal.Seconds())
}

// peakInFlight is the most jobs running at once: started, not yet
// finished.
func peakInFlight(spans [][2]time.Time) int {
	type edge struct {
		at    time.Time
		delta int
	}
	edges := make([]edge, 0, 2*len(spans))
	for _, s := range spans {
		edges = append(edges, edge{s[0], 1}, edge{s[1], -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	running, peak := 0, 0
	for _, e := range edges {
		running += e.delta
		peak = max(peak, running)
	}
	return peak
}

type job struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Error      string     `json:"error"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

func submit(hc *http.Client, base string) (string, error) {
	body := []byte(`{"address":"1600 Pennsylvania Ave NW, Washington, DC 20500","llm_provider":"fake","reuse":false}`)
	resp, err := hc.Post(base+"/jobs", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var j job
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST /jobs: %s (%v)", resp.Status, err)
	}
	return j.ID, nil
}

func get(hc *http.Client, base, id string) (job, error) {
	resp, err := hc.Get(base + "/jobs/" + id)
	if err != nil {
		return job{}, err
	}
	defer resp.Body.Close()
	var j job
	err = json.NewDecoder(resp.Body).Decode(&j)
	return j, err
}

// metrics is what sample reads from /metrics.
type metrics struct {
	goroutines, rss, stack int64
}

// sample reads go_goroutines, process_resident_memory_bytes and
// go_memstats_stack_inuse_bytes.
func sample(hc *http.Client, url string) (metrics, error) {
	var m metrics
	resp, err := hc.Get(url)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, perr := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if perr != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			m.goroutines = int64(f)
		case "process_resident_memory_bytes":
			m.rss = int64(f)
		case "go_memstats_stack_inuse_bytes":
			m.stack = int64(f)
		}
	}
	return m, sc.Err()
}

func maxInto(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}
