package main

import (
	"os"
	"os/exec"
	"runtime/debug"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

// The resume command check prints carries what check set up for itself.
func TestResumeCommand(t *testing.T) {
	cases := []struct {
		name, provider, db, want string
	}{
		{"fake, default database", "fake", "", "CODECHECK_FAKE_LLM=1 codecheck work --job-id J"},
		{"real provider", "openai", "", "codecheck work --job-id J"},
		{"other database", "fake", "sqlite:/tmp/a b.db",
			"CODECHECK_FAKE_LLM=1 DATABASE_URL='sqlite:/tmp/a b.db' codecheck work --job-id J"},
		{"postgres", "openai", "postgres://app@db:5432/cc?sslmode=disable",
			"DATABASE_URL='postgres://app@db:5432/cc?sslmode=disable' codecheck work --job-id J"},
		{"password withheld", "openai", "postgres://app:s3cret@db/cc",
			"DATABASE_URL=postgres://app:xxxxx@db/cc codecheck work --job-id J (with the database password in place of xxxxx)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(envOf(map[string]string{envDatabaseURL.Name: c.db}))
			require.NoError(t, err)
			got := resumeCommand(&environment{cfg: cfg}, domain.Job{ID: "J", Provider: c.provider})
			require.Equal(t, c.want, got)
			require.NotContains(t, got, "s3cret")
		})
	}
}

func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"", "plain", "a b", "it's", `"$HOME"`, "x?y&z=1", "`id`"} {
		out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(s)).Output()
		require.NoError(t, err, s)
		require.Equal(t, s, string(out))
	}
}

func TestProjectFlags(t *testing.T) {
	parse := func(args ...string) *domain.Project {
		fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
		pf := addProjectFlags(fs)
		require.NoError(t, fs.Parse(args))
		return pf.project(fs)
	}
	require.Nil(t, parse("1 Main St"), "no project flags, no project")
	p := parse("--use", "single-family dwelling", "1 Main St", "--scope", "adu", "--stories", "1", "--floor-area", "800")
	require.Equal(t, "single-family dwelling", p.Use)
	require.Equal(t, domain.ScopeADU, p.Scope)
	require.Equal(t, 1, *p.Stories)
	require.Equal(t, 800, *p.FloorAreaSqFt)

	zero := parse("--stories", "0")
	require.NotNil(t, zero.Stories, "an explicit 0 is kept, to be refused")
	_, err := domain.NormalizeProject(zero)
	require.EqualError(t, projectUsageError(err), "--stories: must be 1 to 200, got 0")
	_, err = domain.NormalizeProject(parse("--scope", "demolition"))
	require.ErrorContains(t, projectUsageError(err), "--scope: must be one of new, addition")
}

// A check collects garbage at GOGC=400 unless GOGC says otherwise.
func TestCheckRelaxesTheCollectorUnlessGOGCIsSet(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	if v, set := os.LookupEnv("GOGC"); set {
		t.Cleanup(func() { os.Setenv("GOGC", v) })
	}
	os.Unsetenv("GOGC")
	relaxGC()
	require.Equal(t, 400, debug.SetGCPercent(100), "GOGC unset")

	t.Setenv("GOGC", "100")
	relaxGC()
	require.Equal(t, 100, debug.SetGCPercent(100), "GOGC=100 set by the user")
}
