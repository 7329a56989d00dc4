// Command codecheck is the codecheck service: API server, worker, the entry
// point run inside Modal, and a command-line tool that runs one check.
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

	"go.uber.org/dig"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the job failed or an operation failed
	exitUsage   = 2 // bad flags, arguments or configuration
	exitStopped = 3 // stopped before the job was done (released to pending)
)

// usageError is a mistake in the command line or configuration.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError carries a specific exit code; its message may be empty when
// the command already said everything.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

const usage = `codecheck researches building-code, zoning and permitting facts for an address.

Usage:
  codecheck check [--provider P] [--format md|json] [--out FILE] [--sections a,b] "ADDRESS"
                  [--use TEXT] [--scope new|addition|alteration|adu|tenant_improvement|change_of_use]
                  [--stories N] [--floor-area SQFT] [--description TEXT]   the project, optional
  codecheck serve                 API server (with the local executor it also runs workers)
  codecheck worker                workers only, pulling jobs from the store until SIGTERM
  codecheck work --job-id ID      run one job and exit (the Modal entry point)
  codecheck report --job-id ID [--format md|json]
  codecheck migrate               apply database migrations
  codecheck openapi [--yaml]      print the OpenAPI spec
  codecheck version

Configuration comes from environment variables; see README.md.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, osGetenv))
}

type command func(ctx context.Context, env *environment, args []string) error

var commands = map[string]command{
	"check":   runCheck,
	"serve":   runServe,
	"worker":  runWorker,
	"work":    runWork,
	"report":  runReport,
	"migrate": runMigrate,
	"openapi": runOpenAPI,
	"version": runVersion,
}

// environment is what every command gets: output streams and configuration.
type environment struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	cfg            config
	log            *slog.Logger
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "codecheck: unknown command %q (codecheck help lists the commands)\n", args[0])
		return exitUsage
	}
	cfg, err := loadConfig(getenv)
	if err != nil && args[0] != "version" && args[0] != "openapi" {
		fmt.Fprintf(stderr, "codecheck: %v\n", err)
		return exitUsage
	}
	if args[0] == "check" && getenv(envLogLevel.Name) == "" {
		// The progress display speaks for check; logs only for trouble.
		cfg.LogLevel = "warn"
	}
	env := &environment{stdout: stdout, stderr: stderr, getenv: getenv, cfg: cfg, log: newLogger(stderr, cfg)}
	slog.SetDefault(env.log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return exitCode(stderr, cmd(ctx, env, args[1:]))
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

func runVersion(_ context.Context, env *environment, _ []string) error {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok && v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	fmt.Fprintf(env.stdout, "codecheck %s\n", v)
	return nil
}

// oneLine folds a multi-line error (drivers like to list every address they
// tried) into one line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == '\t' }), " ")
}
