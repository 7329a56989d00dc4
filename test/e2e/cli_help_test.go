package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every command and the flags its help must list.
var commandFlags = map[string][]string{
	"check":      {"--provider", "--format", "--out", "--sections", "--use", "--scope", "--stories", "--floor-area", "--description"},
	"report":     {"--job-id", "--format", "--out"},
	"list":       {"--status", "--limit", "--cursor"},
	"watch":      nil,
	"cancel":     nil,
	"retry":      nil,
	"serve":      nil,
	"worker":     nil,
	"work":       {"--job-id", "--wait"},
	"migrate":    nil,
	"openapi":    {"--yaml"},
	"sections":   nil,
	"version":    nil,
	"completion": nil,
	"help":       nil,
}

// Every command's --help exits 0 at once, and lists its flags, its exit
// codes and examples; those that read the environment list it too.
func TestHelpForEveryCommand(t *testing.T) {
	root := run(t, baseEnv(t), "--help")
	require.Equal(t, 0, root.code, root.stderr)
	for name, flags := range commandFlags {
		require.Regexp(t, regexp.MustCompile(`(?m)^  `+name+` `), root.stdout, "codecheck --help lists %s", name)
		t.Run(name, func(t *testing.T) {
			r := run(t, baseEnv(t), name, "--help")
			require.Equal(t, 0, r.code, r.stderr)
			require.Empty(t, r.stderr)
			for _, section := range []string{"Usage:", "Examples:", "Flags:", "Exit codes:", "--help"} {
				require.Contains(t, r.stdout, section)
			}
			for _, f := range flags {
				require.Contains(t, r.stdout, f)
			}
			switch name {
			case "openapi", "sections", "version", "completion", "help":
			default:
				require.Contains(t, r.stdout, "Environment:")
			}
			// help CMD says the same.
			h := run(t, baseEnv(t), "help", name)
			require.Equal(t, 0, h.code, h.stderr)
			require.Equal(t, r.stdout, h.stdout)
		})
	}
}

func TestHelpListsTheVariablesOfTheCommand(t *testing.T) {
	check := run(t, baseEnv(t), "check", "--help")
	require.Contains(t, check.stdout, "DATABASE_URL (default: sqlite:codecheck.db)")
	require.Contains(t, check.stdout, "PERPLEXITY_API_KEY")
	require.NotContains(t, check.stdout, "CODECHECK_ADDR", "serve's address is not check's business")
	list := run(t, baseEnv(t), "list", "--help")
	require.Contains(t, list.stdout, "CODECHECK_API_URL")
	require.Contains(t, list.stdout, "CODECHECK_API_KEY")
	serve := run(t, baseEnv(t), "serve", "--help")
	require.Contains(t, serve.stdout, "CODECHECK_ADDR (default: 127.0.0.1:8080)")
	require.Contains(t, serve.stdout, "CODECHECK_API_KEYS")
}

// serve --help prints help and starts nothing: it exits 0 at once, opens no
// database and leaves its address free.
func TestHelpServeStartsNothing(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	db := filepath.Join(dir, "serve.db")
	for _, args := range [][]string{{"serve", "--help"}, {"serve", "-h"}, {"help", "serve"}, {"worker", "--help"}, {"work", "--help"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = baseEnv(t, "DATABASE_URL=sqlite:"+db, "CODECHECK_ADDR=127.0.0.1:"+port, "CODECHECK_FAKE_LLM=1")
		out, err := cmd.CombinedOutput()
		cancel()
		require.NoError(t, err, "%v: %s", args, out)
		require.Contains(t, string(out), "Usage:")
		require.NotContains(t, string(out), "serving")
		_, statErr := os.Stat(db)
		require.True(t, os.IsNotExist(statErr), "%v opened the database", args)
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		require.NoError(t, err, "%v left its address taken", args)
		ln.Close()
	}
}

func TestVersion(t *testing.T) {
	flag := run(t, baseEnv(t), "--version")
	require.Equal(t, 0, flag.code, flag.stderr)
	require.Regexp(t, `^codecheck \S+\n$`, flag.stdout)
	cmd := run(t, baseEnv(t), "version")
	require.Equal(t, 0, cmd.code, cmd.stderr)
	require.Equal(t, flag.stdout, cmd.stdout)
	// Neither reads the configuration: a bad one does not stop them.
	bad := run(t, baseEnv(t, "DATABASE_URL=mysql://x"), "--version")
	require.Equal(t, 0, bad.code, bad.stderr)
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_codecheck", "zsh": "#compdef codecheck", "fish": "complete -c codecheck"} {
		r := run(t, baseEnv(t), "completion", shell)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, want, shell)
	}
	// The dynamic completions of check's flags.
	r := run(t, baseEnv(t), "__complete", "check", "--sections", "")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "zoning_use\n")
}

func TestSectionsListsKeysAndTitles(t *testing.T) {
	r := run(t, baseEnv(t), "sections")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 14, "a header and 13 sections")
	require.Regexp(t, `^1\s+jurisdiction\s+Jurisdiction and authorities having jurisdiction$`, lines[1])
	require.Regexp(t, `^3\s+zoning_use\s+Zoning district and permitted use$`, lines[3])
	require.Regexp(t, `^13\s+permitting_process\s+Permitting process$`, lines[13])
}

// The single-dash spellings of the flag package still work: deployments and
// scripts pass them.
func TestSingleDashFlagsStillWork(t *testing.T) {
	env := sqliteEnv(t)
	r := run(t, env, "check", "-provider", "fake", "-format=json", "-sections", "zoning_use", "1 Main St, Springfield, IL")
	require.Equal(t, 0, r.code, r.stderr)
	id := checkJobID(r.stderr)
	rep := run(t, env, "report", "-job-id", id, "-format", "json")
	require.Equal(t, 0, rep.code, rep.stderr)
	require.Contains(t, rep.stdout, `"id": "`+id+`"`)
	work := run(t, env, "work", "-job-id", id, "-wait=false")
	require.Equal(t, 0, work.code, work.stderr)
	require.Contains(t, work.stdout, "job "+id+" is already completed")
}
