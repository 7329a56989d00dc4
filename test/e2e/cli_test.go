package e2e

import (
	"encoding/json"
	"net"
	"os"
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

// exitUsage is the exit code of bad flags, arguments or configuration, and
// of a database or server that cannot be reached at start-up.
const exitUsage = 2

func sqliteEnv(t *testing.T, extra ...string) []string {
	db := "sqlite:" + filepath.Join(t.TempDir(), "codecheck.db")
	return baseEnv(t, append([]string{"DATABASE_URL=" + db, "CODECHECK_FAKE_LLM_LATENCY=20ms"}, extra...)...)
}

// checkJobID is the id in the "job ID" line check writes on standard error,
// or "".
func checkJobID(stderr string) string {
	m := regexp.MustCompile(`(?m)^job ([0-9a-f-]{36})$`).FindStringSubmatch(stderr)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestCheckCompletesAllSections(t *testing.T) {
	env := sqliteEnv(t)
	r := run(t, env, "check", "--provider", "fake", "--format", "json", "1600 Pennsylvania Ave NW, Washington, DC 20500")
	require.Equal(t, 0, r.code, r.stderr)
	// Standard output is the report alone; the job id is on standard error.
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.Equal(t, checkJobID(r.stderr), rep.Job.ID, r.stderr)
	require.Equal(t, "completed", rep.Job.Status)
	require.Equal(t, "13/13", rep.Job.Progress)
	require.Len(t, rep.Sections, 13)
	for _, s := range rep.Sections {
		require.Equal(t, "completed", s.Status, s.Key)
		require.NotEmpty(t, s.Sources, s.Key)
	}
	// Not a terminal: one line per finished section, by title and key.
	require.Len(t, regexp.MustCompile(`(?m)^\[\d+/13\] [A-Z][^()]+ \(\w+\): completed`).FindAllString(r.stderr, -1), 13, r.stderr)
	require.Contains(t, r.stderr, "] Zoning district and permitted use (zoning_use): completed")

	// The same job's report from the store, in Markdown.
	md := run(t, env, "report", "--job-id", rep.Job.ID)
	require.Equal(t, 0, md.code, md.stderr)
	require.Contains(t, md.stdout, "# Building code report: 1600 Pennsylvania Ave NW")
	require.Contains(t, md.stdout, "## 13. Permitting process")
	require.Contains(t, md.stdout, "[SIMULATED]")
}

// check --format json prints the document GET /jobs/{id}/report serves for
// the same job: check against an SQLite file, then serve on that file.
func TestCheckJSONIsTheAPIReport(t *testing.T) {
	env := sqliteEnv(t)
	r := run(t, env, "check", "--provider", "fake", "--format", "json", "--use", "single-family dwelling",
		"1600 Pennsylvania Ave NW, Washington, DC 20500")
	require.Equal(t, 0, r.code, r.stderr)
	var fromCheck map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &fromCheck), "stdout is the JSON alone: %q", r.stdout)
	id := checkJobID(r.stderr)
	require.NotEmpty(t, id, r.stderr)

	srv := launchServe(t, "127.0.0.1", append(env, "CODECHECK_FAKE_LLM=1"))
	resp, body := apiCall(t, "GET", srv.base+"/jobs/"+id+"/report", "", nil)
	require.Equal(t, 200, resp.StatusCode, string(body))
	var fromAPI map[string]any
	require.NoError(t, json.Unmarshal(body, &fromAPI))
	require.Equal(t, fromAPI, fromCheck)
	require.Contains(t, fromCheck, "summary")
	require.Contains(t, fromCheck, "usage")

	// report --format json is the same document too, and --out says where
	// it wrote.
	out := filepath.Join(t.TempDir(), "report.json")
	rep := run(t, env, "report", "--job-id", id, "--format", "json", "--out", out)
	require.Equal(t, 0, rep.code, rep.stderr)
	require.Empty(t, rep.stdout)
	require.Contains(t, rep.stderr, "wrote the report to "+out)
	written, err := os.ReadFile(out)
	require.NoError(t, err)
	var fromReport map[string]any
	require.NoError(t, json.Unmarshal(written, &fromReport))
	require.Equal(t, fromAPI, fromReport)
}

// check --out writes the Markdown to the file, says so on standard error,
// and leaves standard output empty.
func TestCheckOutWritesTheFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.md")
	r := run(t, sqliteEnv(t), "check", "--provider", "fake", "--sections", "zoning_use", "--out", out, "1 Main St, Springfield, IL")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "wrote the report to "+out)
	md, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Contains(t, string(md), "# Building code report: 1 Main St, Springfield, IL")
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
		{"unreachable database for check", []string{"DATABASE_URL=postgres://postgres@127.0.0.1:1/test?connect_timeout=2"}, []string{"check", "--provider", "fake", "1 Main St, Springfield"}, "DATABASE_URL: cannot open Postgres"},
		{"unreachable server", []string{"CODECHECK_API_URL=http://127.0.0.1:1"}, []string{"list"}, "CODECHECK_API_URL: cannot reach the server"},
		{"bad server url", []string{"CODECHECK_API_URL=ftp://x"}, []string{"list"}, "CODECHECK_API_URL: must be an http or https URL"},
		{"unknown flag", nil, []string{"check", "--colour", "1 Main St, Springfield"}, "unknown flag: --colour"},
		{"list bad status", nil, []string{"list", "--status", "done"}, "--status: must be one of"},
		{"watch without id", nil, []string{"watch"}, "watch: needs one job id"},
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
			code := exitUsage
			if c.name == "unknown job" {
				code = 1 // not a usage error: the job does not exist
			}
			require.Equal(t, code, r.code, "bad input and configuration exit 2: %s", r.stderr)
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

// serve that cannot start (its address taken, its database unreachable)
// exits 2 with one line naming the variable.
func TestServeStartupErrorsExit2(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	taken := run(t, sqliteEnv(t, "CODECHECK_ADDR="+ln.Addr().String()), "serve")
	require.Equal(t, exitUsage, taken.code, taken.stderr)
	require.Contains(t, taken.stderr, "codecheck: CODECHECK_ADDR: cannot listen on "+ln.Addr().String())

	down := run(t, baseEnv(t, "DATABASE_URL=postgres://postgres@127.0.0.1:1/test?connect_timeout=2"), "serve")
	require.Equal(t, exitUsage, down.code, down.stderr)
	require.Contains(t, down.stderr, "codecheck: DATABASE_URL: cannot open Postgres at postgres://postgres@127.0.0.1:1/test")
}
