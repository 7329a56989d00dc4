package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Helpers for tests that run `codecheck serve` and talk to it over HTTP.

// serveProcess is a running `codecheck serve`.
type serveProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	output *syncBuffer
	exited chan struct{} // closed when the process has exited
	code   int           // exit code, valid once exited is closed
}

// syncBuffer collects a child's stderr while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return port
}

// launchServe starts `codecheck serve` listening on host:PORT (a free port)
// and waits until /healthz answers on 127.0.0.1:PORT. The process is killed
// at the end of the test if it is still running; its log is printed when
// the test failed.
func launchServe(t *testing.T, host string, env []string) *serveProcess {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(append([]string(nil), env...), "CODECHECK_ADDR="+net.JoinHostPort(host, port))
	p := &serveProcess{t: t, cmd: cmd, base: "http://127.0.0.1:" + port, output: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	require.NoError(t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		p.code = cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("codecheck serve (%s) output:\n%s", p.base, p.output.String())
		}
	})
	p.waitHealthy(30 * time.Second)
	return p
}

func (p *serveProcess) waitHealthy(timeout time.Duration) {
	p.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			p.t.Fatalf("codecheck serve exited with code %d before it was healthy:\n%s", p.code, p.output.String())
		default:
		}
		resp, err := client.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("codecheck serve not healthy after %s (last error %v):\n%s", timeout, err, p.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// terminate sends SIGTERM and returns the exit code, failing the test if the
// process has not exited within timeout.
func (p *serveProcess) terminate(timeout time.Duration) int {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("codecheck serve still running %s after SIGTERM:\n%s", timeout, p.output.String())
		return -1
	}
}

// apiCall makes one request and returns the response with its body read.
func apiCall(t *testing.T, method, url string, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

// apiJob is the part of a job view the tests look at.
type apiJob struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Progress string `json:"progress"`
	Attempt  int    `json:"attempt"`
	Error    string `json:"error"`
}

// apiReport is the part of a report the tests look at.
type apiReport struct {
	Job      apiJob `json:"job"`
	Sections []struct {
		Key        string     `json:"key"`
		Status     string     `json:"status"`
		Summary    string     `json:"summary"`
		FinishedAt *time.Time `json:"finished_at"`
		Sources    []struct {
			URL string `json:"url"`
		} `json:"sources"`
	} `json:"sections"`
}

const testAddress = "1600 Pennsylvania Ave NW, Washington, DC 20500"

// submitAPIJob posts a job for testAddress with the fake provider and
// checks the 202 answer and its Location header.
func submitAPIJob(t *testing.T, base string) apiJob {
	t.Helper()
	resp, body := apiCall(t, http.MethodPost, base+"/jobs", `{"address":"`+testAddress+`","llm_provider":"fake"}`, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
	var job apiJob
	require.NoError(t, json.Unmarshal(body, &job), string(body))
	require.NotEmpty(t, job.ID)
	require.Equal(t, "pending", job.Status)
	require.Equal(t, "0/13", job.Progress)
	require.Equal(t, "/jobs/"+job.ID, resp.Header.Get("Location"))
	return job
}

func getAPIJob(t *testing.T, base, id string) apiJob {
	t.Helper()
	resp, body := apiCall(t, http.MethodGet, base+"/jobs/"+id, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var job apiJob
	require.NoError(t, json.Unmarshal(body, &job), string(body))
	return job
}

func getAPIReport(t *testing.T, base, id string) apiReport {
	t.Helper()
	resp, body := apiCall(t, http.MethodGet, base+"/jobs/"+id+"/report", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
	var rep apiReport
	require.NoError(t, json.Unmarshal(body, &rep), string(body))
	return rep
}

// doneCount is the number of finished sections in a "d/n" progress.
func doneCount(t *testing.T, progress string) int {
	t.Helper()
	done, _, ok := strings.Cut(progress, "/")
	require.True(t, ok, progress)
	n, err := strconv.Atoi(done)
	require.NoError(t, err, progress)
	return n
}

// sseMessage is one server-sent event as received.
type sseMessage struct {
	ID      int64
	Event   string
	Data    string
	Arrived time.Time
}

// sseData is the data of job and section events.
type sseData struct {
	JobID    string `json:"job_id"`
	Key      string `json:"key"`
	Status   string `json:"status"`
	Progress string `json:"progress"`
	Attempt  int    `json:"attempt"`
}

func (m sseMessage) data(t *testing.T) sseData {
	t.Helper()
	var d sseData
	require.NoError(t, json.Unmarshal([]byte(m.Data), &d), m.Data)
	return d
}

// eventStream is an open GET /jobs/{id}/events.
type eventStream struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	lines  *bufio.Scanner
}

// openEvents opens a job's event stream, resuming after lastEventID when it
// is not empty. The whole stream must end within a minute.
func openEvents(t *testing.T, base, id, lastEventID string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/jobs/"+id+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET /jobs/%s/events: %s: %s", id, resp.Status, body)
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	s := &eventStream{t: t, resp: resp, cancel: cancel, lines: bufio.NewScanner(resp.Body)}
	t.Cleanup(s.close)
	return s
}

func (s *eventStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event; ok is false when the server ended the
// stream. Comments (keep-alives) are skipped. A stream that breaks or does
// not end in time fails the test.
func (s *eventStream) next() (m sseMessage, ok bool) {
	s.t.Helper()
	var fields int
	for s.lines.Scan() {
		line := s.lines.Text()
		if line == "" {
			if m.Event != "" || m.Data != "" {
				m.Arrived = time.Now()
				return m, true
			}
			// A block of other fields only (the stream's opening retry:)
			// dispatches no event, as in EventSource.
			m, fields = sseMessage{}, 0
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		fields++
		switch name {
		case "id":
			id, err := strconv.ParseInt(value, 10, 64)
			require.NoError(s.t, err, line)
			m.ID = id
		case "event":
			m.Event = value
		case "data":
			if m.Data != "" {
				m.Data += "\n"
			}
			m.Data += value
		}
	}
	err := s.lines.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		s.t.Fatal("the event stream did not end by itself within a minute")
	}
	require.NoError(s.t, err, "reading the event stream")
	require.Zero(s.t, fields, "the stream ended inside an event")
	return sseMessage{}, false
}

// readAll reads events until the server ends the stream.
func (s *eventStream) readAll() []sseMessage {
	s.t.Helper()
	var out []sseMessage
	for {
		m, ok := s.next()
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// followEvents reads a job's whole event stream from lastEventID on.
func followEvents(t *testing.T, base, id, lastEventID string) []sseMessage {
	t.Helper()
	s := openEvents(t, base, id, lastEventID)
	defer s.close()
	return s.readAll()
}
