// Command codecheck is the codecheck service: API server, worker, the entry
// point run inside Modal, and a command-line tool that runs one check and
// lists, watches, cancels and retries jobs, locally or on a server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/dig"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the job failed or an operation failed
	exitUsage   = 2 // bad flags, arguments or configuration; database or server unreachable at start-up
	exitStopped = 3 // stopped before the job was done (released to pending)
)

// usageError is a mistake in the command line or configuration, or a
// database or server that cannot be reached at start-up.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError carries a specific exit code; its message may be empty when
// the command already said everything.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, osGetenv))
}

// environment is what every command gets: output streams and configuration.
type environment struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	cfg            config
	log            *slog.Logger
	// logOut is where logs go: standard error, or above the progress
	// display while it runs.
	logOut *logSwitch
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	env := &environment{stdout: stdout, stderr: stderr, getenv: getenv, logOut: &logSwitch{w: stderr}}
	env.log = newLogger(env.logOut, config{LogLevel: "info", LogFormat: "text"})
	root := newRootCommand(env)
	root.SetArgs(normalizeArgs(root, args))
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return exitCode(stderr, root.ExecuteContext(ctx))
}

// load reads and checks the configuration for a command. Commands whose
// output speaks for them (check, the job commands, work on a terminal)
// log only trouble unless CODECHECK_LOG_LEVEL says otherwise.
func (env *environment) load(quiet bool) error {
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return usageError{err}
	}
	if quiet && env.getenv(envLogLevel.Name) == "" {
		cfg.LogLevel = "warn"
	}
	env.cfg = cfg
	env.log = newLogger(env.logOut, cfg)
	slog.SetDefault(env.log)
	return nil
}

func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	err = dig.RootCause(err)
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(stderr, "codecheck: %s\n", oneLine(ee.msg))
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "codecheck: %s\n", oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

func newLogger(w io.Writer, cfg config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevels[cfg.LogLevel]}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// versionText is the build's version: -ldflags "-X main.version=...", else
// the module version Go recorded, else "dev".
func versionText() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok && v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	return v
}

func newVersionCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version (the same as codecheck --version)",
		Args:  noArgs,
		Example: `  codecheck version
  codecheck --version`,
		Annotations: map[string]string{exitAnnotation: exitCodesSimple},
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(env.stdout, "codecheck %s\n", versionText())
			return nil
		},
	}
}

// oneLine folds a multi-line error (drivers like to list every address they
// tried) into one line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == '\t' }), " ")
}
