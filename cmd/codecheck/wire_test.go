package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/adapters/webhook"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testEnv is the environment of a command run with vars.
func testEnv(t *testing.T, vars map[string]string) *environment {
	t.Helper()
	cfg, err := loadConfig(envOf(vars))
	require.NoError(t, err)
	return &environment{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: envOf(vars), cfg: cfg,
		log: newLogger(io.Discard, cfg)}
}

// Every command's fx graph is complete: each dependency has a provider.
func TestWiringIsComplete(t *testing.T) {
	env := testEnv(t, nil)
	graphs := map[string][]fx.Option{
		"check":       append(baseModules(storeOptions{}), fx.Supply(inProcess(true)), fx.Invoke(func(*app.Service, *app.Worker) {})),
		"report":      append(baseModules(storeOptions{}), fx.Invoke(func(*app.Service) {})),
		"migrate":     {storeModule(storeOptions{}), fx.Invoke(func(ports.JobStore) {})},
		"work":        append(workModules(), fx.Invoke(populatedByWork)),
		"worker":      workerModules(),
		"serve local": serveModules("local"),
		"serve modal": serveModules("modal"),
	}
	for name, opts := range graphs {
		require.NoError(t, fx.ValidateApp(append(appOptions(env), opts...)...), name)
	}
}

// populatedByWork has the parameters that runWork populates.
func populatedByWork(*app.Worker, *webhook.Sender, *metrics.Metrics) {}

// Building the graph does no I/O: the store is opened, and migrated, by
// the start hook, and closed by the stop hook.
func TestStoreOpensOnStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "codecheck.db")
	env := testEnv(t, map[string]string{"DATABASE_URL": "sqlite:" + path})
	var store ports.JobStore
	a := fxtest.New(t, append(appOptions(env), storeModule(storeOptions{}), fx.Populate(&store))...)
	_, err := os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "not opened by the constructor")

	a.RequireStart()
	require.NoError(t, store.Ping(t.Context()))
	_, err = os.Stat(path)
	require.NoError(t, err)
	a.RequireStop()
}

func TestStoreOpenErrorsNameTheVariable(t *testing.T) {
	env := testEnv(t, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "missing", "dir", "x.db")})
	a := fx.New(append(appOptions(env), storeModule(storeOptions{}), fx.Invoke(func(ports.JobStore) {}))...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := a.Start(ctx)
	require.ErrorContains(t, err, "DATABASE_URL")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// `worker` runs jobs through the local pool and serves its metrics on
// CODECHECK_METRICS_ADDR; stopping drains the pool and closes the listener.
func TestWorkerRunsJobsAndServesMetrics(t *testing.T) {
	addr := freeAddr(t)
	env := testEnv(t, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "codecheck.db"),
		"CODECHECK_METRICS_ADDR": addr, "CODECHECK_FAKE_LLM": "1", "CODECHECK_FAKE_LLM_LATENCY": "1ms"})
	var svc *app.Service
	a := fxtest.New(t, append(appOptions(env), append(workerModules(), fx.Populate(&svc))...)...)
	a.RequireStart()

	job, _, err := svc.Submit(t.Context(), app.SubmitRequest{Address: "1 Main St, Springfield, IL", Sections: []string{"jurisdiction", "zoning_use"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		r, err := svc.Get(t.Context(), job.ID)
		return err == nil && r.Job.Status == domain.JobCompleted
	}, 10*time.Second, 10*time.Millisecond, "the pool runs the job")

	// The job's finish is committed before the worker's hooks count it,
	// so the scrape looks until the count is there.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	wants := []string{
		`codecheck_llm_requests_total{outcome="ok",provider="fake"} 2`,
		`codecheck_jobs_finished_total{status="completed"} 1`,
		`codecheck_queue_depth 0`,
	}
	// The condition runs on another goroutine, where require may not stop
	// the test: a failed scrape is reported through c.
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		res, err := client.Get("http://" + addr + "/metrics")
		if !assert.NoError(c, err) {
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		assert.NoError(c, err)
		assert.Equal(c, http.StatusOK, res.StatusCode)
		for _, want := range wants {
			assert.Contains(c, string(b), want)
		}
	}, 10*time.Second, 10*time.Millisecond, "metrics after the job finished")

	a.RequireStop()
	_, err = client.Get("http://" + addr + "/metrics")
	require.Error(t, err, "the listener is closed")
}

func TestWorkerMetricsListenErrorNamesTheVariable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	env := testEnv(t, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "codecheck.db"),
		"CODECHECK_METRICS_ADDR": ln.Addr().String()})
	a := fx.New(append(appOptions(env), workerModules()...)...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = a.Start(ctx)
	require.ErrorContains(t, err, "CODECHECK_METRICS_ADDR: cannot listen on "+ln.Addr().String())
}

// A fleet of `worker` processes recovers its own crashes: a job whose
// worker died (its lease expired) is re-queued and run again without a
// `serve`.
func TestWorkerRescuesExpiredLeases(t *testing.T) {
	env := testEnv(t, map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "codecheck.db"),
		"CODECHECK_METRICS_ADDR": "off", "CODECHECK_FAKE_LLM": "1", "CODECHECK_FAKE_LLM_LATENCY": "1ms"})
	// A worker that died at once: it claimed the job and never heartbeat.
	var (
		svc   *app.Service
		store ports.JobStore
	)
	before := fxtest.New(t, append(appOptions(env), append(baseModules(storeOptions{}), fx.Populate(&svc, &store))...)...)
	before.RequireStart()
	job, _, err := svc.Submit(t.Context(), app.SubmitRequest{Address: "1 Main St, Springfield, IL", Sections: []string{"jurisdiction"}})
	require.NoError(t, err)
	_, err = store.Claim(t.Context(), ports.ClaimRequest{JobID: job.ID, Worker: "dead", Lease: time.Millisecond})
	require.NoError(t, err)
	before.RequireStop()

	a := fxtest.New(t, append(appOptions(env), append(workerModules(), fx.Populate(&svc))...)...)
	a.RequireStart()
	defer a.RequireStop()
	require.Eventually(t, func() bool {
		r, err := svc.Get(t.Context(), job.ID)
		return err == nil && r.Job.Status == domain.JobCompleted && r.Job.Attempt == 2
	}, 15*time.Second, 20*time.Millisecond, "re-queued after the lease expired, then run again")
}
