package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/ports"
)

// `work` through the worker API has no store in its graph: only the
// worker's store over HTTP.
func TestWorkerAPIGraphHasNoDatabase(t *testing.T) {
	env := testEnv(t, map[string]string{"CODECHECK_API_URL": "http://127.0.0.1:8080", "CODECHECK_WORKER_TOKEN": "t"})
	opts := append(appOptions(env), workerAPIModules()...)
	require.NoError(t, fx.ValidateApp(append(opts, fx.Invoke(func(*app.Worker, *metrics.Metrics, ports.WorkerStore) {}))...))
	require.Error(t, fx.ValidateApp(append(opts, fx.Invoke(func(ports.JobStore) {}))...), "no JobStore")
}

func TestWorkerAPISettings(t *testing.T) {
	c, err := loadConfig(envOf(map[string]string{"CODECHECK_WORKER_SECRET": strings.Repeat("s", app.MinWorkerSecretLen),
		"CODECHECK_API_URL": "https://codecheck.example.com", "CODECHECK_WORKER_TOKEN": "cwt1.x"}))
	require.NoError(t, err)
	require.Equal(t, "https://codecheck.example.com", c.APIURL)
	require.Equal(t, "cwt1.x", c.WorkerToken)
	tokens, err := newWorkerTokens(c)
	require.NoError(t, err)
	require.NotNil(t, tokens)

	none, err := newWorkerTokens(config{})
	require.NoError(t, err)
	require.Nil(t, none, "no secret, no worker API")

	_, err = loadConfig(envOf(map[string]string{"CODECHECK_WORKER_SECRET": "short-secret"}))
	require.ErrorContains(t, err, "CODECHECK_WORKER_SECRET: must be at least 32 characters")
	require.NotContains(t, err.Error(), "short-secret", "the secret is never echoed")

	_, err = loadConfig(envOf(map[string]string{"CODECHECK_API_URL": "codecheck.example.com"}))
	require.ErrorContains(t, err, "CODECHECK_API_URL:")
}
