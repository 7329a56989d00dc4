package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/providerfake"
)

// Glue between the provider fakes (test/providerfake) and the binary: the
// key and address the tests use, the environment, and the JSON report as the
// provider tests read it.

// providerKey is the API key the binary gets. It is distinctive so that a
// leak into any output or file is easy to spot.
const providerKey = "e2e-SECRET-provider-key-0d5f8a3c71b9"

// checkAddress is the address every provider test researches.
const checkAddress = "200 E Santa Clara St, San Jose, CA 95113"

var allProviders = []providerfake.Provider{providerfake.Perplexity, providerfake.OpenAI, providerfake.Gemini}

// keyEnvVar is the variable that holds a provider's API key.
func keyEnvVar(p providerfake.Provider) string { return strings.ToUpper(string(p)) + "_API_KEY" }

// startFake starts a fake of p that accepts providerKey.
func startFake(t *testing.T, p providerfake.Provider, script providerfake.Script) *providerfake.Server {
	return providerfake.Start(t, p, providerfake.Options{Key: providerKey, Script: script})
}

// providerEnv is a clean SQLite environment pointing the binary at srv with
// key, and nothing else from the machine: no real provider keys leak in.
// The rate limit is raised so the shared limiter never paces a test.
func providerEnv(t *testing.T, srv *providerfake.Server, key string, extra ...string) (env []string, dataDir string) {
	dataDir = t.TempDir()
	env = baseEnv(t, append(append([]string{
		"DATABASE_URL=sqlite:" + filepath.Join(dataDir, "codecheck.db"),
		"CODECHECK_PROVIDER_RPM=6000",
	}, srv.Env(key)...), extra...)...)
	return env, dataDir
}

// checkReport runs `codecheck check --provider p --format json ARGS ADDRESS`
// and returns the result and the report it printed (zero if none). The key
// never appears in what the binary prints.
func checkReport(t *testing.T, env []string, p providerfake.Provider, args ...string) (result, providerReport) {
	t.Helper()
	argv := append([]string{"check", "--provider", string(p), "--format", "json"}, args...)
	r := run(t, env, append(argv, checkAddress)...)
	// Not require.NotContains: its failure would print the key-laden output.
	require.False(t, strings.Contains(r.stdout, providerKey), "the API key leaked to stdout")
	require.False(t, strings.Contains(r.stderr, providerKey), "the API key leaked to stderr")
	var rep providerReport
	if id := checkJobID(r.stderr); id != "" && r.stdout != "" {
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
		require.Equal(t, id, rep.Job.ID)
	}
	return r, rep
}

// requireNoKeyInFiles checks that no file under dir (the database, its WAL)
// holds the key.
func requireNoKeyInFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries, "the database was not written")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.False(t, strings.Contains(string(b), providerKey), "the API key was stored in %s", e.Name())
	}
}

type providerReport struct {
	Job struct {
		ID       string `json:"id"`
		Provider string `json:"llm_provider"`
		Status   string `json:"status"`
		Progress string `json:"progress"`
		Error    string `json:"error"`
	} `json:"job"`
	Sections []reportSection `json:"sections"`
	Usage    reportUsage     `json:"usage"`
}

func (r providerReport) section(t *testing.T, key string) reportSection {
	t.Helper()
	for _, s := range r.Sections {
		if s.Key == key {
			return s
		}
	}
	t.Fatalf("section %s not in the report", key)
	return reportSection{}
}

type reportSection struct {
	Key               string          `json:"key"`
	Status            string          `json:"status"`
	Summary           string          `json:"summary"`
	Outcome           string          `json:"outcome"`
	Confidence        string          `json:"confidence"`
	Findings          []reportFinding `json:"findings"`
	Sources           []reportSource  `json:"sources"`
	NeedsVerification bool            `json:"needs_verification"`
	VerifyWith        string          `json:"verify_with"`
	Grounded          bool            `json:"grounded"`
	Provider          string          `json:"provider"`
	Model             string          `json:"model"`
	Usage             reportUsage     `json:"usage"`
	Attempts          int             `json:"attempts"`
	Error             string          `json:"error"`
}

type reportFinding struct {
	Label         string `json:"label"`
	Value         string `json:"value"`
	CodeReference string `json:"code_reference"`
	SourceIDs     []int  `json:"source_ids"`
	Quote         string `json:"quote"`
	Supported     bool   `json:"supported"`
}

type reportSource struct {
	ID       int    `json:"id"`
	URL      string `json:"url"`
	Title    string `json:"title"`
	Official bool   `json:"official"`
}

type reportUsage struct {
	InputTokens  int64    `json:"input_tokens"`
	OutputTokens int64    `json:"output_tokens"`
	CostUSD      *float64 `json:"cost_usd"`
}
