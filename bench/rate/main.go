// Command rate sends POST /jobs to a running `codecheck serve` at a fixed
// rate, whatever the server's answers take (an open loop, unlike wrk's
// closed one), and reports the latency of each request from the moment it
// was due, so that a stall delays the requests queued behind it in the
// figures too. It is how bench/api.sh measures the latency at a given
// load, such as half of what the server can take. With -warmup it sends at
// the rate first without measuring, so that the figures are the steady
// state's; the warm-up's own p99 is printed beside them.
//
//	go run ./bench/rate -url http://127.0.0.1:8080 -rate 300 -duration 10s
//	go run ./bench/rate -url http://127.0.0.1:8080 -rate 300 -warmup 2s -duration 10s
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
	duration := flag.Duration("duration", 10*time.Second, "how long to send, measured")
	warmup := flag.Duration("warmup", 0, "how long to send first at the same rate, not measured: the server's pools and connections open, as in a server that has run a while")
	flag.Parse()
	if *rate <= 0 {
		fmt.Fprintln(os.Stderr, "rate: -rate must be positive")
		os.Exit(2)
	}
	body := []byte(`{"address":"1600 Pennsylvania Ave NW, Washington, DC 20500","llm_provider":"fake"}`)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	skip := int(warmup.Seconds() * float64(*rate))
	n := max(int(duration.Seconds()*float64(*rate)), 1)
	interval := time.Second / time.Duration(*rate)
	lat := make([]time.Duration, skip+n)
	failed := make([]bool, skip+n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range skip + n {
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
	warm, measured := lat[:skip], lat[skip:]
	slices.Sort(measured)
	fmt.Printf("RESULT rate=%d requests=%d achieved_rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f errors=%d",
		*rate, n, float64(skip+n)/sent.Seconds(), ms(pct(measured, 50)), ms(pct(measured, 90)), ms(pct(measured, 99)),
		ms(measured[n-1]), errs)
	if skip > 0 {
		slices.Sort(warm)
		fmt.Printf(" warmup_requests=%d warmup_p99_ms=%.2f warmup_max_ms=%.2f", skip, ms(pct(warm, 99)), ms(warm[skip-1]))
	}
	fmt.Println()
	if errs > 0 {
		os.Exit(1)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
