// Command rate sends POST /jobs to a running `codecheck serve` at a fixed
// rate, whatever the server's answers take (an open loop, unlike wrk's
// closed one), and reports the latency of each request from the moment it
// was due, so that a stall delays the requests queued behind it in the
// figures too. It is how bench/api.sh measures the latency at a given
// load, such as half of what the server can take.
//
//	go run ./bench/rate -url http://127.0.0.1:8080 -rate 300 -duration 10s
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "base URL of codecheck serve")
	rate := flag.Int("rate", 100, "requests a second")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	flag.Parse()
	if *rate <= 0 {
		fmt.Fprintln(os.Stderr, "rate: -rate must be positive")
		os.Exit(2)
	}
	body := []byte(`{"address":"1600 Pennsylvania Ave NW, Washington, DC 20500","llm_provider":"fake"}`)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	n := max(int(duration.Seconds()*float64(*rate)), 1)
	interval := time.Second / time.Duration(*rate)
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due)) // pacing the sends, not synchronisation
		wg.Go(func() {
			resp, err := hc.Post(*base+"/jobs", "application/json", bytes.NewReader(body))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			lat[i] = time.Since(due)
			failed[i] = err != nil || resp.StatusCode != http.StatusAccepted
		})
	}
	wg.Wait()
	sent := time.Since(start)
	errs := 0
	for _, f := range failed {
		if f {
			errs++
		}
	}
	slices.Sort(lat)
	fmt.Printf("RESULT rate=%d requests=%d achieved_rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d\n",
		*rate, n, float64(n)/sent.Seconds(), ms(pct(lat, 50)), ms(pct(lat, 90)), ms(pct(lat, 99)), ms(lat[n-1]), errs)
	if errs > 0 {
		os.Exit(1)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
