package e2e

import (
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/require"
)

// /metrics of a real serve and a real worker, after a job, passes
// Prometheus's linter (promlint, what `promtool check metrics` runs), and no
// label carries a job id or an address.
func TestMetricsOfServeAndWorkerPassPromlint(t *testing.T) {
	db := "DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "codecheck.db")
	srv := launchServe(t, "127.0.0.1", baseEnv(t, db, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=20ms"))

	metricsAddr := "127.0.0.1:" + freePort(t)
	worker := exec.Command(binary, "worker")
	worker.Env = baseEnv(t, db, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=20ms", "CODECHECK_METRICS_ADDR="+metricsAddr)
	out := &syncBuffer{}
	worker.Stdout, worker.Stderr = out, out
	require.NoError(t, worker.Start())
	defer func() {
		_ = worker.Process.Signal(syscall.SIGTERM)
		_ = worker.Wait()
		if t.Failed() {
			t.Logf("codecheck worker output:\n%s", out.String())
		}
	}()

	job := submitAPIJob(t, srv.base)
	waitFor(t, "the job to complete", time.Minute, func() bool { return getAPIJob(t, srv.base, job.ID).Status == "completed" })

	scrape := func(url string) []byte {
		resp, body := apiCall(t, http.MethodGet, url, "", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		return body
	}
	var workerMetrics []byte
	waitFor(t, "the worker's /metrics", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	workerMetrics = scrape("http://" + metricsAddr + "/metrics")
	for name, text := range map[string][]byte{"serve": scrape(srv.base + "/metrics"), "worker": workerMetrics} {
		require.Contains(t, string(text), "# TYPE codecheck_", "%s serves codecheck's metrics", name)
		problems, err := promlint.New(bytes.NewReader(text)).Lint()
		require.NoError(t, err, name)
		for _, p := range problems {
			t.Errorf("%s /metrics: promlint: %s: %s", name, p.Metric, p.Text)
		}
		require.NotContains(t, string(text), job.ID, "%s: no job id in a label", name)
		require.NotContains(t, string(text), "Pennsylvania", "%s: no address in a label", name)
	}
}
