package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/modalfake"
	"github.com/codecheck/codecheck/test/pgtest"
)

// modalRig is `codecheck serve` with CODECHECK_EXECUTOR=modal against a
// fake Modal control plane whose spawned calls run `codecheck work --job-id`
// as separate processes on the same Postgres, the way Modal runs the
// deployed function's container.
//
// modalfake.Start uses t.Setenv: tests using a rig must not be parallel.
type modalRig struct {
	t        *testing.T
	opts     modalRigOptions
	fake     *modalfake.Server
	baseURL  string   // http://127.0.0.1:PORT of the first serve process
	replicas []string // base URLs of every serve process
	callLog  string   // one line per fake LLM call made by any work process
	dbURL    string   // the schema's URL; its connections carry application_name appName
	appName  string
	workEnv  []string
	dir      string

	mu      sync.Mutex
	procs   map[string]*workProc // by function-call id
	spawned int                  // spawns run so far, to spread work processes over the replicas
}

// modalRigOptions shape a rig; the zero value is one serve whose spawned
// work processes reach the store through DATABASE_URL.
type modalRigOptions struct {
	// Replicas is the number of serve processes on the one Postgres
	// (default 1).
	Replicas int
	// WorkerAPI gives the serve processes a worker secret and runs every
	// work process through the worker API of one of them, with the token
	// the spawn carried and no DATABASE_URL in its environment.
	WorkerAPI bool
	// Env is added to every process's environment.
	Env []string
	// NoClaim makes every spawned call end at once without running
	// codecheck work, like a container that dies before it claims its job.
	NoClaim bool
}

// modalWorkerSecret is the worker secret of WorkerAPI rigs.
const modalWorkerSecret = "e2e-worker-secret-0123456789abcdef"

// workProc is one `codecheck work` process started for a spawned call.
type workProc struct {
	callID string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	err    error         // its exit status; read after exited
	at     time.Time     // when it exited; read after exited
}

// Work settings shared by serve and work: 13 sections two at a time at
// 150ms each keep a job running for a second or two.
const modalFakeLatency = "150ms"

func startModalRig(t *testing.T) *modalRig { return startModalRigWith(t, modalRigOptions{}) }

func startModalRigWith(t *testing.T, opts modalRigOptions) *modalRig {
	t.Helper()
	opts.Replicas = max(opts.Replicas, 1)
	// Cleanups run last-registered first: the serve process stops, then the
	// fake (stopping every work process), then the schema goes.
	appName := fmt.Sprintf("codecheck-e2e-%d", time.Now().UnixNano())
	dbURL := pgtest.WithParam(t, pgtest.URL(t), "application_name", appName)
	dir := t.TempDir()
	r := &modalRig{t: t, opts: opts, dir: dir, callLog: filepath.Join(dir, "calls.log"), procs: map[string]*workProc{},
		dbURL: dbURL, appName: appName}
	t.Cleanup(func() {
		if t.Failed() {
			dumpModalLogs(t, dir)
		}
	})
	shared := append([]string{"CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=" + modalFakeLatency,
		"CODECHECK_SECTION_CONCURRENCY=2", "CODECHECK_LEASE=2s"}, opts.Env...)
	work := append(shared, "CODECHECK_FAKE_LLM_LOG="+r.callLog, "CODECHECK_DRAIN_TIMEOUT=5s")
	if !opts.WorkerAPI {
		work = append(work, "DATABASE_URL="+dbURL)
	}
	r.workEnv = baseEnv(t, work...)

	r.fake = modalfake.Start(t, modalfake.Options{OnSpawn: r.runWork})
	r.fake.Deploy("code-check-worker", "process_research_job")

	serve := append(shared, "DATABASE_URL="+dbURL, "CODECHECK_EXECUTOR=modal")
	if opts.WorkerAPI {
		serve = append(serve, "CODECHECK_WORKER_SECRET="+modalWorkerSecret)
	}
	for i := range opts.Replicas {
		addr := modalFreeAddr(t)
		env := append(baseEnv(t, append(serve, "CODECHECK_ADDR="+addr)...), r.fake.Environ()...)
		startModalServe(t, env, addr, filepath.Join(dir, fmt.Sprintf("serve-%d.log", i+1)))
		r.replicas = append(r.replicas, "http://"+addr)
	}
	r.baseURL = r.replicas[0]
	return r
}

// runWork is the fake Modal function: `codecheck work --job-id args[0]` in
// its own process. A canceled call (or the fake stopping) sends SIGTERM, as
// deploy/modal/modal_worker.py does, and SIGKILL if it lingers.
func (r *modalRig) runWork(ctx context.Context, callID string, args []any) error {
	if r.opts.NoClaim {
		return errors.New("container died before codecheck work started")
	}
	jobID, ok := args[0].(string)
	if !ok {
		return fmt.Errorf("args[0] is %T, want the job id", args[0])
	}
	out, err := os.Create(filepath.Join(r.dir, "work-"+callID+".log"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, binary, "work", "--job-id", jobID)
	cmd.Env = r.workEnv
	if r.opts.WorkerAPI {
		token, _ := args[3].(string)
		r.mu.Lock()
		api := r.replicas[r.spawned%len(r.replicas)]
		r.spawned++
		r.mu.Unlock()
		cmd.Env = append(slices.Clone(r.workEnv), "CODECHECK_API_URL="+api, "CODECHECK_WORKER_TOKEN="+token)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &workProc{callID: callID, cmd: cmd, exited: make(chan struct{})}
	r.mu.Lock()
	r.procs[callID] = p
	r.mu.Unlock()
	p.err = cmd.Wait()
	p.at = time.Now()
	close(p.exited)
	return p.err
}

// proc waits for the work process of the call to have started.
func (r *modalRig) proc(callID string) *workProc {
	r.t.Helper()
	var p *workProc
	waitFor(r.t, "work process of call "+callID, 30*time.Second, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		p = r.procs[callID]
		return p != nil
	})
	return p
}

// waitExit waits for the process to end and returns its exit status.
func (p *workProc) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(60 * time.Second):
		t.Fatalf("work process of call %s did not exit", p.callID)
		return nil
	}
}

// spawn waits for the n-th spawn (1-based) and returns it.
func (r *modalRig) spawn(n int) modalfake.Spawn {
	r.t.Helper()
	waitFor(r.t, fmt.Sprintf("spawn #%d", n), 30*time.Second, func() bool { return len(r.fake.Spawns()) >= n })
	return r.fake.Spawns()[n-1]
}

func modalFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startModalServe runs `codecheck serve` until the test ends, then stops it with
// SIGTERM and expects a clean exit.
func startModalServe(t *testing.T, env []string, addr, logPath string) {
	t.Helper()
	out, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(binary, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); out.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve did not exit cleanly after SIGTERM: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("serve did not stop within 30s of SIGTERM")
		}
	})

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("serve exited before it was healthy: %v", err)
		default:
		}
		if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("serve not healthy within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dumpModalLogs(t *testing.T, dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		t.Logf("---- %s ----\n%s", filepath.Base(p), b)
	}
}

// modalJob is the part of GET /jobs/{id} these tests read.
type modalJob struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Progress      string `json:"progress"`
	Error         string `json:"error"`
	Attempt       int    `json:"attempt"`
	Executor      string `json:"executor"`
	ExecutorRef   string `json:"executor_ref"`
	DispatchError string `json:"dispatch_error"`
	Sections      []struct {
		Key    string `json:"key"`
		Status string `json:"status"`
	} `json:"sections"`
}

// done is the number of finished sections in Progress ("3/13").
func (j modalJob) done() int {
	var n, total int
	_, _ = fmt.Sscanf(j.Progress, "%d/%d", &n, &total)
	return n
}

func (j modalJob) completedSections() map[string]bool {
	out := map[string]bool{}
	for _, s := range j.Sections {
		if s.Status == "completed" {
			out[s.Key] = true
		}
	}
	return out
}

var modalClient = &http.Client{Timeout: 10 * time.Second}

// call sends a JSON request and decodes a JSON answer into out.
func (r *modalRig) call(method, path string, body any, wantStatus int, out any) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(r.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.baseURL+path, rd)
	require.NoError(r.t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := modalClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(r.t, err)
	require.Equal(r.t, wantStatus, resp.StatusCode, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(r.t, json.Unmarshal(raw, out), string(raw))
	}
}

const modalTestAddress = "350 Fifth Ave, New York, NY 10118"

func (r *modalRig) submit() modalJob {
	r.t.Helper()
	var j modalJob
	r.call(http.MethodPost, "/jobs", map[string]any{"address": modalTestAddress, "llm_provider": "fake"}, http.StatusAccepted, &j)
	require.NotEmpty(r.t, j.ID)
	return j
}

func (r *modalRig) job(id string) modalJob {
	r.t.Helper()
	var j modalJob
	r.call(http.MethodGet, "/jobs/"+id, nil, http.StatusOK, &j)
	return j
}

// waitJob polls GET /jobs/{id} until cond holds and returns the job.
func (r *modalRig) waitJob(id, what string, cond func(modalJob) bool) modalJob {
	r.t.Helper()
	var j modalJob
	waitFor(r.t, what, 60*time.Second, func() bool {
		j = r.job(id)
		return cond(j)
	})
	return j
}

// modalEvent is one message of GET /jobs/{id}/events, with its data decoded
// (job and section events share these fields) and the time it arrived.
type modalEvent struct {
	ID    int64
	Event string
	Data  struct {
		JobID    string `json:"job_id"`
		Status   string `json:"status"`
		Progress string `json:"progress"`
		Key      string `json:"key"`
		Attempt  int    `json:"attempt"`
		Error    string `json:"error"`
	}
	At time.Time
}

// follow opens the job's event stream and reads it in the background until
// the server ends it; the returned channel yields every event read and the
// read error (nil on a clean end).
func (r *modalRig) follow(id string) <-chan modalStream {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	r.t.Cleanup(func() { cancel(); <-stopped })
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.baseURL+"/jobs/"+id+"/events", nil)
	require.NoError(r.t, err)
	req.Header.Set("Accept", "text/event-stream")
	done := make(chan modalStream, 1)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		close(stopped)
		r.t.Fatalf("GET events: %v", err)
	}
	go func() {
		defer close(stopped)
		defer resp.Body.Close()
		evs, err := readModalSSE(resp.Body)
		done <- modalStream{evs, err}
	}()
	require.Equal(r.t, http.StatusOK, resp.StatusCode)
	require.Equal(r.t, "text/event-stream", resp.Header.Get("Content-Type"))
	return done
}

type modalStream struct {
	events []modalEvent
	err    error
}

// readModalSSE parses an event stream per the SSE format: fields until a blank
// line, comments (":") ignored, a block without data dispatching nothing.
func readModalSSE(body io.Reader) ([]modalEvent, error) {
	var (
		out  []modalEvent
		cur  modalEvent
		data []string
		seen bool
	)
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			// A block without data (the stream's opening retry:)
			// dispatches no event, as in EventSource.
			if seen && len(data) > 0 {
				cur.At = time.Now()
				if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &cur.Data); err != nil {
					return out, fmt.Errorf("event %d: data: %w", cur.ID, err)
				}
				out = append(out, cur)
			}
			cur, data, seen = modalEvent{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		seen = true
		switch field {
		case "id":
			if _, err := fmt.Sscan(value, &cur.ID); err != nil {
				return out, fmt.Errorf("bad id line %q", line)
			}
		case "event":
			cur.Event = value
		case "data":
			data = append(data, value)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return out, err
	}
	return out, nil
}

// awaitModalStream waits for the stream to end.
func awaitModalStream(t *testing.T, ch <-chan modalStream) []modalEvent {
	t.Helper()
	select {
	case res := <-ch:
		require.NoError(t, res.err)
		return res.events
	case <-time.After(60 * time.Second):
		t.Fatal("event stream did not end within 60s")
		return nil
	}
}

// modalProgress reads "n/13".
func modalProgress(t *testing.T, p string) int {
	t.Helper()
	var n, total int
	_, err := fmt.Sscanf(p, "%d/%d", &n, &total)
	require.NoError(t, err, "progress %q", p)
	require.Equal(t, 13, total, "progress %q", p)
	return n
}
