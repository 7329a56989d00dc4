package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type jsonReport struct {
	Job struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Progress string `json:"progress"`
		Error    string `json:"error"`
	} `json:"job"`
	Sections []struct {
		Key     string `json:"key"`
		Status  string `json:"status"`
		Sources []struct {
			URL string `json:"url"`
		} `json:"sources"`
	} `json:"sections"`
}

func sqliteEnv(t *testing.T, extra ...string) []string {
	db := "sqlite:" + filepath.Join(t.TempDir(), "codecheck.db")
	return baseEnv(t, append([]string{"DATABASE_URL=" + db, "CODECHECK_FAKE_LLM_LATENCY=20ms"}, extra...)...)
}

func TestCheckCompletesAllSections(t *testing.T) {
	env := sqliteEnv(t)
	r := run(t, env, "check", "--provider", "fake", "--format", "json", "1600 Pennsylvania Ave NW, Washington, DC 20500")
	require.Equal(t, 0, r.code, r.stderr)
	first := firstLine(r.stdout)
	require.True(t, strings.HasPrefix(first, "job "), first)
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(r.stdout, first+"\n")), &rep), r.stdout)
	require.Equal(t, strings.TrimPrefix(first, "job "), rep.Job.ID)
	require.Equal(t, "completed", rep.Job.Status)
	require.Equal(t, "13/13", rep.Job.Progress)
	require.Len(t, rep.Sections, 13)
	for _, s := range rep.Sections {
		require.Equal(t, "completed", s.Status, s.Key)
		require.NotEmpty(t, s.Sources, s.Key)
	}
	// Not a terminal: one line per finished section.
	require.Len(t, regexp.MustCompile(`(?m)^\[\d+/13\] \w+: completed`).FindAllString(r.stderr, -1), 13, r.stderr)

	// The same job's report from the store, in Markdown.
	md := run(t, env, "report", "--job-id", rep.Job.ID)
	require.Equal(t, 0, md.code, md.stderr)
	require.Contains(t, md.stdout, "# Building code report: 1600 Pennsylvania Ave NW")
	require.Contains(t, md.stdout, "## 13. Permitting process")
	require.Contains(t, md.stdout, "[SIMULATED]")
}

func TestCheckFailsWhenSectionsFail(t *testing.T) {
	env := sqliteEnv(t, "CODECHECK_FAKE_LLM_FAIL_RATE=1")
	r := run(t, env, "check", "--provider", "fake", "--sections", "zoning_use", "1 Main St, Springfield, IL")
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "failed")
	require.Contains(t, r.stderr, "2 of 2 sections failed: jurisdiction, zoning_use (gave up after 3 attempts: fake: HTTP 503")
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"empty address", nil, []string{"check", "--provider", "fake", ""}, "address: is required"},
		{"long address", nil, []string{"check", "--provider", "fake", strings.Repeat("a", 301)}, "address: must be 5 to 300 characters"},
		{"unknown provider", nil, []string{"check", "--provider", "acme", "1 Main St, Springfield"}, `llm_provider: unknown provider "acme"`},
		{"unconfigured provider", nil, []string{"check", "--provider", "openai", "1 Main St, Springfield"}, "OPENAI_API_KEY"},
		{"unknown section", nil, []string{"check", "--provider", "fake", "--sections", "roofing", "1 Main St, Springfield"}, `sections[0]: unknown section key "roofing"`},
		{"bad format", nil, []string{"check", "--provider", "fake", "--format", "pdf", "1 Main St, Springfield"}, "--format: must be md or json"},
		{"bad database url", []string{"DATABASE_URL=mysql://x"}, []string{"check", "--provider", "fake", "1 Main St, Springfield"}, "DATABASE_URL: must start with sqlite: or postgres://"},
		{"bad duration", []string{"CODECHECK_LEASE=soon"}, []string{"check", "--provider", "fake", "1 Main St, Springfield"}, "CODECHECK_LEASE: must be a positive duration"},
		{"tiny lease", []string{"CODECHECK_LEASE=2ns"}, []string{"check", "--provider", "fake", "1 Main St, Springfield"}, "CODECHECK_LEASE: must be at least 1s"},
		{"bad default provider", []string{"CODECHECK_DEFAULT_PROVIDER=openai"}, []string{"check", "--provider", "fake", "1 Main St, Springfield"}, "CODECHECK_DEFAULT_PROVIDER"},
		{"unreachable database", []string{"DATABASE_URL=postgres://postgres@127.0.0.1:1/test?connect_timeout=2"}, []string{"migrate"}, "DATABASE_URL"},
		{"missing job id", nil, []string{"work"}, "work: --job-id is required"},
		{"unknown job", nil, []string{"work", "--job-id", "0190c6e2-0000-7000-8000-000000000000"}, "not found"},
		{"unknown command", nil, []string{"frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			env := baseEnv(t, append([]string{"DATABASE_URL=sqlite:" + filepath.Join(dir, "db.sqlite")}, c.env...)...)
			if strings.HasPrefix(c.name, "unreachable") {
				env = baseEnv(t, c.env...)
			}
			r := run(t, env, c.args...)
			require.NotEqual(t, 0, r.code)
			require.Contains(t, r.stderr, c.want)
			require.Equal(t, 1, strings.Count(strings.TrimSpace(r.stderr), "\n")+1, "one line: %q", r.stderr)
			require.NotContains(t, r.stdout, "job ", "nothing written half-way")
		})
	}
}

func TestMigrateCreatesTheSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fresh.db")
	env := baseEnv(t, "DATABASE_URL=sqlite:"+path)
	r := run(t, env, "migrate")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "migrations applied to sqlite:"+path)
	require.FileExists(t, path)
	again := run(t, env, "migrate")
	require.Equal(t, 0, again.code, again.stderr)
	rep := run(t, env, "report", "--job-id", "0190c6e2-0000-7000-8000-000000000000")
	require.Equal(t, 1, rep.code)
	require.Contains(t, rep.stderr, "not found", "the schema is there: the query ran")
}
