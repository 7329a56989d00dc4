package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/creack/pty"
	"github.com/stretchr/testify/require"
)

// ttyRun runs the binary with standard error (and input) on a
// pseudo-terminal of the given width, standard output on a pipe, and returns
// what the terminal received and the standard output.
func ttyRun(t *testing.T, cols int, env []string, args ...string) (term, stdout string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: 40})
	require.NoError(t, err)
	defer ptmx.Close()
	var screen bytes.Buffer
	// Read until the child is gone: Linux answers EIO once the last holder
	// of the terminal's other end closed it.
	_, err = io.Copy(&screen, ptmx)
	var pathErr *os.PathError
	if err != nil && !(errors.As(err, &pathErr) && errors.Is(pathErr.Err, syscall.EIO)) {
		t.Fatalf("reading the terminal: %v", err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return screen.String(), out.String(), code
}

// ttyEnv is a clean environment for a terminal run: no log level, so the
// commands keep logs to warnings and the display speaks for them.
func ttyEnv(t *testing.T, extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TERM=xterm-256color"}, extra...)
}

// screenLines splits what a terminal received into the pieces written
// between carriage returns and line feeds, without escape sequences.
func screenLines(screen string) []string {
	return strings.FieldsFunc(ansi.Strip(screen), func(r rune) bool { return r == '\r' || r == '\n' })
}

// On a terminal the progress display never writes a line wider than the
// terminal (80 or 40 columns), shows the address and the sections by
// title, spins for running sections, and its timer ticks.
func TestProgressFitsTheTerminal(t *testing.T) {
	const address = "1600 Pennsylvania Ave NW, Washington, DC 20500"
	for _, cols := range []int{80, 40} {
		t.Run(strconv.Itoa(cols), func(t *testing.T) {
			db := "sqlite:" + filepath.Join(t.TempDir(), "tty.db")
			env := ttyEnv(t, "DATABASE_URL="+db, "CODECHECK_FAKE_LLM_LATENCY=700ms")
			screen, stdout, code := ttyRun(t, cols, env, "check", "--provider", "fake", "--format", "json", address)
			require.Equal(t, 0, code, screen)
			require.True(t, strings.HasPrefix(stdout, "{"), "the report goes to standard output: %q", stdout)

			lines := screenLines(screen)
			require.NotEmpty(t, lines)
			for _, l := range lines {
				require.LessOrEqual(t, ansi.StringWidth(l), cols, "a line wider than %d columns: %q", cols, l)
			}
			text := strings.Join(lines, "\n")
			require.Contains(t, text, address[:30], "the address")
			require.Contains(t, text, "Zoning district", "sections by title")
			require.Contains(t, text, "Jurisdiction and", "sections by title")
			require.Regexp(t, `[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] \S`, text, "a spinner for running sections")
			require.Contains(t, text, "13/13")
			// The timer ticks between section events: the bar shows many
			// different times while the sections of each phase run.
			times := map[string]bool{}
			for _, m := range regexp.MustCompile(`\d+/13 (\d+\.\d)s`).FindAllStringSubmatch(text, -1) {
				times[m[1]] = true
			}
			require.GreaterOrEqual(t, len(times), 5, "the timer ticks: %v", times)
		})
	}
}

// watch on a terminal shows the same display as check, within the width.
func TestProgressWatchOnATerminal(t *testing.T) {
	env := sqliteEnv(t)
	r := run(t, env, "check", "--provider", "fake", "--sections", "zoning_use", "1600 Pennsylvania Ave NW, Washington, DC 20500")
	require.Equal(t, 0, r.code, r.stderr)
	id := checkJobID(r.stderr)
	var db string
	for _, kv := range env {
		if strings.HasPrefix(kv, "DATABASE_URL=") {
			db = kv
		}
	}
	screen, stdout, code := ttyRun(t, 40, ttyEnv(t, db), "watch", id)
	require.Equal(t, 0, code, screen)
	require.Equal(t, "job "+id+" completed (2/2)\n", stdout)
	lines := screenLines(screen)
	for _, l := range lines {
		require.LessOrEqual(t, ansi.StringWidth(l), 40, "a line wider than 40 columns: %q", l)
	}
	text := strings.Join(lines, "\n")
	require.Contains(t, text, "2/2")
	require.Contains(t, text, "✓ Zoning district")
}

// work on a terminal shows the same display as check: a job that check
// left pending when interrupted, resumed by work.
func TestProgressWorkOnATerminal(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "work.db")
	cmd := exec.Command(binary, "check", "--provider", "fake", "1600 Pennsylvania Ave NW, Washington, DC 20500")
	cmd.Env = baseEnv(t, "DATABASE_URL="+db, "CODECHECK_FAKE_LLM_LATENCY=1m")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	var id string
	waitFor(t, "check to start the job", 30*time.Second, func() bool {
		id = checkJobID(stderr.String())
		return id != "" && strings.Contains(stderr.String(), "researching")
	})
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	var ee *exec.ExitError
	require.ErrorAs(t, cmd.Wait(), &ee, stderr.String())
	require.Equal(t, 3, ee.ExitCode(), stderr.String())

	env := ttyEnv(t, "DATABASE_URL="+db, "CODECHECK_FAKE_LLM=1", "CODECHECK_FAKE_LLM_LATENCY=300ms")
	screen, stdout, code := ttyRun(t, 40, env, "work", "--job-id", id)
	require.Equal(t, 0, code, screen)
	require.Equal(t, "job "+id+" completed (13/13)\n", stdout)
	lines := screenLines(screen)
	for _, l := range lines {
		require.LessOrEqual(t, ansi.StringWidth(l), 40, "a line wider than 40 columns: %q", l)
	}
	text := strings.Join(lines, "\n")
	require.Contains(t, text, "1600 Pennsylvania Ave NW")
	require.Contains(t, text, "13/13")
	require.Regexp(t, `[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] \S`, text, "a spinner for running sections")
	require.NotContains(t, text, "level=INFO", "no raw log lines on a terminal")
}
