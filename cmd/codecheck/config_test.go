package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
)

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.Addr)
	require.Equal(t, "127.0.0.1:9090", c.MetricsAddr)
	require.Equal(t, "sqlite:codecheck.db", c.DatabaseURL)
	require.Equal(t, "local", c.Executor)
	require.Equal(t, app.DefaultWorkers, c.Workers)
	require.Equal(t, app.DefaultSectionConcurrency, c.SectionConc)
	require.Equal(t, app.DefaultJobTimeout, c.JobTimeout)
	require.Equal(t, app.DefaultLease, c.Lease)
	require.Equal(t, app.DefaultMaxAttempts, c.MaxAttempts)
	require.Equal(t, app.DefaultHandoffTimeout, c.HandoffTimeout)
	require.Equal(t, 20*time.Second, c.DrainTimeout)
	require.Equal(t, 100*time.Millisecond, c.FakeLatency)
	require.Equal(t, "perplexity/sonar", c.Perplexity.Model)
	require.Empty(t, c.APIKeys)
	require.False(t, c.FakeLLM)
}

func TestConfigValues(t *testing.T) {
	c, err := loadConfig(envOf(map[string]string{"CODECHECK_API_KEYS": " a, b ,,", "CODECHECK_LEASE": "1m",
		"CODECHECK_FAKE_LLM": "1", "CODECHECK_METRICS_ADDR": "off", "OPENAI_MODEL": "gpt-x"}))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, c.APIKeys)
	require.Equal(t, time.Minute, c.Lease)
	require.True(t, c.FakeLLM)
	require.Empty(t, c.MetricsAddr, "off")
	require.Equal(t, "gpt-x", c.OpenAI.Model)
}

// A fake provider without latency measures the machinery alone.
func TestFakeLatencyZeroIsNone(t *testing.T) {
	c, err := loadConfig(envOf(map[string]string{"CODECHECK_FAKE_LLM_LATENCY": "0"}))
	require.NoError(t, err)
	require.Zero(t, c.FakeLatency)
	require.Negative(t, fakeLatency(c.FakeLatency), "fake.Config reads a negative latency as none, 0 as its default")
	require.Equal(t, 300*time.Millisecond, fakeLatency(300*time.Millisecond))
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"CODECHECK_WORKERS":             {"CODECHECK_WORKERS": "many"},
		"CODECHECK_SECTION_CONCURRENCY": {"CODECHECK_SECTION_CONCURRENCY": "0"},
		"CODECHECK_JOB_TIMEOUT":         {"CODECHECK_JOB_TIMEOUT": "-5s"},
		"CODECHECK_LEASE":               {"CODECHECK_LEASE": "500ms"},
		"CODECHECK_EXECUTOR":            {"CODECHECK_EXECUTOR": "lambda"},
		"CODECHECK_FAKE_LLM":            {"CODECHECK_FAKE_LLM": "maybe"},
		"CODECHECK_FAKE_LLM_FAIL_RATE":  {"CODECHECK_FAKE_LLM_FAIL_RATE": "2"},
		"CODECHECK_FAKE_LLM_LATENCY":    {"CODECHECK_FAKE_LLM_LATENCY": "-1ms"},
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
	require.NotContains(t, redactURL("postgres://db/x?user=u&password=secret&sslmode=disable"), "secret")
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Second: "30s", 300 * time.Second: "5m", time.Hour: "1h",
		90 * time.Second: "1m30s", 100 * time.Millisecond: "100ms"} {
		require.Equal(t, want, durationText(d))
		parsed, err := time.ParseDuration(want)
		require.NoError(t, err)
		require.Equal(t, d, parsed)
	}
}

// loadConfig reads exactly the variables of the settings table: none is
// read without being documented, none documented without being read.
func TestConfigReadsTheSettingsTable(t *testing.T) {
	var read []string
	_, err := loadConfig(func(name string) string {
		read = append(read, name)
		return ""
	})
	require.NoError(t, err)
	var names []string
	for _, s := range settings {
		names = append(names, s.Name)
	}
	slices.Sort(read)
	slices.Sort(names)
	require.Equal(t, names, slices.Compact(read))
	require.Len(t, slices.Compact(slices.Clone(names)), len(settings), "each variable once")
}

var update = flag.Bool("update", false, "rewrite the configuration table of README.md from the settings")

const (
	tableStart = "<!-- settings table: generated from cmd/codecheck/config.go; go test ./cmd/codecheck -run README -update -->\n"
	tableEnd   = "<!-- end of settings table -->\n"
)

// settingsTable renders the settings as the README's Markdown table.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, s := range settings {
		def := s.Unset
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, def, s.Meaning)
	}
	return b.String()
}

// Names that README.md mentions but that are not settings of codecheck.
var notSettings = map[string]string{
	"CODECHECK_TEST_DATABASE_URL":    "read by the tests, not by codecheck",
	"CODECHECK_TEST_PGBOUNCER_URL":   "read by the tests, not by codecheck",
	"CODECHECK_SOAK":                 "read by the fault tests (make soak), not by codecheck",
	"CODECHECK_FAULT_SEED":           "read by the fault tests, not by codecheck",
	"CODECHECK_ARTIFACTS_DIR":        "read by the browser tests, not by codecheck",
	"CODECHECK_E2E_MEASURE":          "read by the e2e measurements, not by codecheck",
	"CODECHECK_E2E_REPLICA_JOBS":     "read by the e2e replica test, not by codecheck",
	"CODECHECK_MODAL_WORKER_MODE":    "read by deploy/modal/modal_worker.py at modal deploy",
	"CODECHECK_MODAL_MAX_CONTAINERS": "read by deploy/modal/modal_worker.py at modal deploy",
	"CODECHECK_MODAL_JOB_TIMEOUT":    "read by deploy/modal/modal_worker.py at modal deploy",
	"CODECHECK_MODAL_REQUIRED_KEYS":  "read by deploy/modal/modal_worker.py at modal deploy",
}

// README.md's configuration table is the settings table, and every
// CODECHECK_ variable the README mentions is in it.
func TestREADME(t *testing.T) {
	const path = "../../README.md"
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	readme := string(raw)
	before, rest, ok := strings.Cut(readme, tableStart)
	require.True(t, ok, "README.md has no line %q", tableStart)
	_, after, ok := strings.Cut(rest, tableEnd)
	require.True(t, ok, "README.md has no line %q", tableEnd)
	want := before + tableStart + settingsTable() + tableEnd + after
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		readme = want
	}
	require.Equal(t, want, readme, "README.md's table differs from the settings: go test ./cmd/codecheck -run README -update")

	documented := map[string]setting{}
	for _, s := range settings {
		documented[s.Name] = s
	}
	for _, name := range regexp.MustCompile(`CODECHECK_[A-Z0-9_]*[A-Z0-9]`).FindAllString(readme, -1) {
		_, ok := documented[name]
		require.True(t, ok || notSettings[name] != "", "README.md mentions %s, which is not a setting", name)
	}
	// Defaults repeated in prose ("`CODECHECK_ADDR` (default `127.0.0.1:8080`)") are right too.
	prose := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`[^`\n]{0,12}default\\s+`([^`]+)`").FindAllStringSubmatch(readme, -1)
	require.NotEmpty(t, prose, "the pattern still finds the defaults written in prose")
	for _, m := range prose {
		if notSettings[m[1]] != "" {
			continue
		}
		require.Equal(t, documented[m[1]].Default, m[2], "README.md gives %s the default %s", m[1], m[2])
	}
}

// The workers' pool follows CODECHECK_WORKERS, from 8 to 32 connections,
// unless CODECHECK_DB_WORKER_CONNS says otherwise (0: one shared pool).
func TestWorkerConnsFollowWorkers(t *testing.T) {
	for workers, want := range map[string]int{"": 8, "2": 8, "20": 20, "1000": 32} {
		c, err := loadConfig(envOf(map[string]string{"CODECHECK_WORKERS": workers}))
		require.NoError(t, err)
		require.Equal(t, want, c.DBWorkerConns, "CODECHECK_WORKERS=%q", workers)
	}
	c, err := loadConfig(envOf(map[string]string{"CODECHECK_WORKERS": "1000", "CODECHECK_DB_WORKER_CONNS": "0"}))
	require.NoError(t, err)
	require.Zero(t, c.DBWorkerConns)
	_, err = loadConfig(envOf(map[string]string{"CODECHECK_DB_WORKER_CONNS": "-1"}))
	require.ErrorContains(t, err, "CODECHECK_DB_WORKER_CONNS")
}
