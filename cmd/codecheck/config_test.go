package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/codecheck/codecheck/app"
)

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.Addr)
	require.Equal(t, "sqlite:codecheck.db", c.DatabaseURL)
	require.Equal(t, "local", c.Executor)
	require.Equal(t, 8, c.Workers)
	require.Equal(t, 12, c.SectionConc)
	require.Equal(t, 300*time.Second, c.JobTimeout)
	require.Equal(t, 30*time.Second, c.Lease)
	require.Equal(t, 3, c.MaxAttempts)
	require.Equal(t, 100*time.Millisecond, c.FakeLatency)
	require.Equal(t, "perplexity/sonar", c.Perplexity.Model)
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"CODECHECK_WORKERS":             {"CODECHECK_WORKERS": "many"},
		"CODECHECK_SECTION_CONCURRENCY": {"CODECHECK_SECTION_CONCURRENCY": "0"},
		"CODECHECK_JOB_TIMEOUT":         {"CODECHECK_JOB_TIMEOUT": "-5s"},
		"CODECHECK_EXECUTOR":            {"CODECHECK_EXECUTOR": "lambda"},
		"CODECHECK_FAKE_LLM":            {"CODECHECK_FAKE_LLM": "maybe"},
		"CODECHECK_FAKE_LLM_FAIL_RATE":  {"CODECHECK_FAKE_LLM_FAIL_RATE": "2"},
		"CODECHECK_LOG_LEVEL":           {"CODECHECK_LOG_LEVEL": "loud"},
		"OPENAI_BASE_URL":               {"OPENAI_BASE_URL": "ftp://x"},
		"DATABASE_URL":                  {"DATABASE_URL": "mysql://localhost/x"},
	}
	for name, env := range cases {
		_, err := loadConfig(envOf(env))
		require.Error(t, err, name)
		require.True(t, strings.HasPrefix(err.Error(), name+":"), "%s: %v", name, err)
	}
}

func TestStoreURL(t *testing.T) {
	su, err := parseStoreURL("sqlite:/tmp/x.db")
	require.NoError(t, err)
	require.Equal(t, "/tmp/x.db", su.SQLitePath)
	su, err = parseStoreURL("postgres://u:secret@db:5432/x")
	require.NoError(t, err)
	require.True(t, su.Postgres)
	_, err = parseStoreURL("sqlite:")
	require.ErrorContains(t, err, "DATABASE_URL")
	_, err = parseStoreURL("postgres://u:secret@/x")
	require.ErrorContains(t, err, "DATABASE_URL")
	require.NotContains(t, redactURL("postgres://u:secret@db/x"), "secret")
}

// Every command's fx graph is complete: each dependency has a provider.
func TestWiringIsComplete(t *testing.T) {
	cfg, err := loadConfig(envOf(nil))
	require.NoError(t, err)
	env := &environment{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: envOf(nil), cfg: cfg, log: newLogger(&bytes.Buffer{}, cfg)}
	base := []fx.Option{fx.Supply(cfg), fx.Supply(env.log), fx.Supply(env), fx.NopLogger}
	graphs := map[string][]fx.Option{
		"check/work/report": append(baseModules(storeOptions{}), fx.Invoke(func(*app.Service, *app.Worker) {})),
		"serve local":       serveModules(env, "local"),
		"serve modal":       serveModules(env, "modal"),
	}
	for name, opts := range graphs {
		require.NoError(t, fx.ValidateApp(append(append([]fx.Option{}, base...), opts...)...), name)
	}
}
