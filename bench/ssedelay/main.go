// Command ssedelay measures how long a finished section takes to reach an
// event-stream client: it submits jobs to a running `codecheck serve`,
// follows each job's GET /jobs/{id}/events, and compares the arrival time
// of every section event with the section's finished_at from the report.
// It splits each delay at the event's own time ("at", when the store began
// the save that recorded it): before it, the section waited for its job's
// earlier save (saves of one job take turns); after it, the save, the
// change notification, the server's read and the stream. Client and server
// must share a clock (run both on one machine).
//
//	go run ./bench/ssedelay -url http://127.0.0.1:8080 -jobs 10
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "base URL of codecheck serve")
	jobs := flag.Int("jobs", 5, "jobs to run, one after another")
	provider := flag.String("provider", "fake", "llm_provider of the jobs")
	address := flag.String("address", "1600 Pennsylvania Ave NW, Washington, DC 20500", "address of the jobs")
	key := flag.String("key", os.Getenv("CODECHECK_API_KEY"), "bearer API key, if the server needs one")
	flag.Parse()

	c := client{base: strings.TrimRight(*base, "/"), key: *key, http: &http.Client{}}
	var total, queued, delivered []time.Duration
	for i := range *jobs {
		ds, err := c.measureJob(*address, *provider)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ssedelay: job %d: %v\n", i+1, err)
			os.Exit(1)
		}
		for _, d := range ds {
			total = append(total, d.queued+d.delivered)
			queued, delivered = append(queued, d.queued), append(delivered, d.delivered)
		}
	}
	fmt.Printf("section events: %d from %d jobs\n", len(total), *jobs)
	report("delay finished_at -> SSE arrival:", total)
	report("  finished_at -> save begins (at):", queued)
	report("  save begins (at) -> SSE arrival:", delivered)
}

// report prints the percentiles of ds, which it sorts.
func report(what string, ds []time.Duration) {
	slices.Sort(ds)
	fmt.Printf("%s p50 %s  p95 %s  p99 %s  max %s\n",
		what, ms(percentile(ds, 50)), ms(percentile(ds, 95)), ms(percentile(ds, 99)), ms(ds[len(ds)-1]))
}

// delay is one section event's delay, split at the event's time: finished_at
// to at, and at to the event's arrival.
type delay struct{ queued, delivered time.Duration }

// arrival is when a section's last event arrived, and its time (at).
type arrival struct{ when, at time.Time }

type client struct {
	base, key string
	http      *http.Client
}

// measureJob submits a job, follows its events to the end, and returns, for
// each section's last event, its delay from the section's finished_at to its
// arrival, split at the event's time.
func (c client) measureJob(address, provider string) ([]delay, error) {
	body, _ := json.Marshal(map[string]string{"address": address, "llm_provider": provider})
	var job struct {
		ID string `json:"id"`
	}
	if err := c.do(http.MethodPost, "/jobs", body, http.StatusAccepted, &job); err != nil {
		return nil, err
	}
	arrived, err := c.follow(job.ID)
	if err != nil {
		return nil, err
	}
	var report struct {
		Sections []struct {
			Key        string     `json:"key"`
			FinishedAt *time.Time `json:"finished_at"`
		} `json:"sections"`
	}
	if err := c.do(http.MethodGet, "/jobs/"+job.ID+"/report", nil, http.StatusOK, &report); err != nil {
		return nil, err
	}
	var out []delay
	for _, s := range report.Sections {
		a, ok := arrived[s.Key]
		if !ok || s.FinishedAt == nil {
			return nil, fmt.Errorf("job %s: section %s has no event or no finished_at", job.ID, s.Key)
		}
		out = append(out, delay{queued: a.at.Sub(*s.FinishedAt), delivered: a.when.Sub(a.at)})
	}
	return out, nil
}

// follow reads the job's event stream until the server ends it and returns
// when each section's last event arrived, with its time.
func (c client) follow(jobID string) (map[string]arrival, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req, err := c.request(ctx, http.MethodGet, "/jobs/"+jobID+"/events", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("events: %s", resp.Status)
	}
	arrived := map[string]arrival{}
	var event, data string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "section" {
				now := time.Now()
				var d struct {
					Key string    `json:"key"`
					At  time.Time `json:"at"`
				}
				if err := json.Unmarshal([]byte(data), &d); err != nil {
					return nil, err
				}
				arrived[d.Key] = arrival{when: now, at: d.At}
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	return arrived, nil
}

func (c client) request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	return req, nil
}

func (c client) do(method, path string, body []byte, want int, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return errors.Join(fmt.Errorf("%s %s: decoding the answer", method, path), err)
	}
	return nil
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
