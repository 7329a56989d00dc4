package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newRootCommand is the command tree. No command does anything before its
// RunE: --help, completion and --version start nothing.
func newRootCommand(env *environment) *cobra.Command {
	root := &cobra.Command{
		Use:   "codecheck",
		Short: "Research building-code, zoning and permitting facts for an address",
		Long: `codecheck researches the building-code, zoning and permitting facts that apply to one
property address and returns them as a 13-section report with sources.

The same binary runs one check on the command line, serves the HTTP API, runs
workers, and is the entry point inside Modal. Configuration comes from
environment variables (each command's --help lists those it reads; README.md
has them all).`,
		Example: `  codecheck check --provider fake "1600 Pennsylvania Ave NW, Washington, DC 20500"
  codecheck check --format json "1 Main St, Springfield, IL" | jq .summary
  codecheck list --status failed
  CODECHECK_API_URL=https://codecheck.example.com CODECHECK_API_KEY=... codecheck watch ID
  source <(codecheck completion bash)`,
		Version:       versionText(),
		Args:          unknownCommand,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{exitAnnotation: exitCodesAll},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.SetVersionTemplate("codecheck {{.Version}}\n")
	root.SetUsageTemplate(usageTemplate)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newCheckCommand(env), newReportCommand(env),
		newListCommand(env), newWatchCommand(env), newCancelCommand(env), newRetryCommand(env),
		newServeCommand(env), newWorkerCommand(env), newWorkCommand(env),
		newMigrateCommand(env), newOpenAPICommand(env), newSectionsCommand(env), newVersionCommand(env),
	)
	documentBuiltins(root)
	return root
}

// documentBuiltins gives cobra's own help and completion commands the
// examples and exit codes every command's help has.
func documentBuiltins(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = "  codecheck help check\n  codecheck check --help"
		case "completion":
			c.Example = `  source <(codecheck completion bash)     # add it to ~/.bashrc to keep it
  codecheck completion zsh > "${fpath[1]}/_codecheck"
  codecheck completion fish > ~/.config/fish/completions/codecheck.fish`
		default:
			continue
		}
		c.Annotations = map[string]string{exitAnnotation: exitCodesSimple}
		for _, sub := range c.Commands() {
			sub.Annotations = map[string]string{exitAnnotation: exitCodesSimple}
		}
	}
}

// unknownCommand refuses arguments to the root: an unknown command.
func unknownCommand(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q (codecheck help lists the commands)", args[0])
	}
	return nil
}

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s: takes no arguments, got %q", cmd.Name(), args[0])
	}
	return nil
}

// oneJobID takes exactly one argument, the job id.
func oneJobID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("%s: needs one job id, got %d arguments (codecheck %s --help)", cmd.Name(), len(args), cmd.Name())
	}
	return nil
}

// normalizeArgs accepts the single-dash long flags of the standard flag
// package that codecheck used before (-job-id ID, -format=json), as
// deployments and scripts may still pass them.
func normalizeArgs(root *cobra.Command, args []string) []string {
	long := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(name) > 1 && long[name] {
			out[i] = "-" + a
		}
	}
	return out
}

// Help: each command lists, besides its flags and examples, the
// environment variables it reads and its exit codes.
const (
	envAnnotation  = "codecheck/env"
	exitAnnotation = "codecheck/exit"
)

func init() {
	cobra.AddTemplateFunc("envHelp", envHelp)
	cobra.AddTemplateFunc("exitHelp", func(c *cobra.Command) string { return c.Annotations[exitAnnotation] })
}

const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{with envHelp .}}

Environment:
{{.}}{{end}}{{with exitHelp .}}

Exit codes:
{{.}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more about a command.{{end}}
`

// envHelp lists the settings a command reads, with their defaults and
// meanings, from the settings table.
func envHelp(c *cobra.Command) string {
	names := splitList(c.Annotations[envAnnotation])
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	for _, name := range names {
		s, ok := settingNamed(name)
		if !ok {
			continue
		}
		def := s.Default
		if def == "" {
			def = s.Unset
		}
		fmt.Fprintf(&b, "  %s", s.Name)
		if def != "" {
			fmt.Fprintf(&b, " (default: %s)", plain(def))
		}
		b.WriteString("\n")
		for _, line := range wrap(plain(s.Meaning), 72) {
			fmt.Fprintf(&b, "      %s\n", line)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// settingNamed finds a setting of the table by its variable's name.
func settingNamed(name string) (setting, bool) {
	for _, s := range settings {
		if s.Name == name {
			return s, true
		}
	}
	return setting{}, false
}

// plain drops the Markdown code marks of the settings table.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }

// wrap breaks s into lines of at most width characters at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// The environment variables of each kind of command, for their help.
var (
	storeEnv    = "DATABASE_URL,CODECHECK_DB_POOLER,CODECHECK_DB_MAX_CONNS,CODECHECK_DB_SCHEMA"
	listenEnv   = "CODECHECK_LISTEN_DATABASE_URL"
	providerEnv = "CODECHECK_DEFAULT_PROVIDER,PERPLEXITY_API_KEY,PERPLEXITY_BASE_URL,PERPLEXITY_MODEL," +
		"OPENAI_API_KEY,OPENAI_BASE_URL,OPENAI_MODEL,CODECHECK_OPENAI_ALLOW_UNGROUNDED," +
		"GEMINI_API_KEY,GEMINI_BASE_URL,GEMINI_MODEL,CODECHECK_FAKE_LLM,CODECHECK_FAKE_LLM_LATENCY," +
		"CODECHECK_FAKE_LLM_FAIL_RATE,CODECHECK_PROVIDER_CONCURRENCY,CODECHECK_PROVIDER_RPM,CODECHECK_PROVIDER_TIMEOUT"
	runEnv    = "CODECHECK_SECTION_CONCURRENCY,CODECHECK_JOB_TIMEOUT,CODECHECK_LEASE,CODECHECK_REUSE,CODECHECK_REUSE_TTL"
	logEnv    = "CODECHECK_LOG_FORMAT,CODECHECK_LOG_LEVEL"
	clientEnv = "CODECHECK_API_URL,CODECHECK_API_KEY," + storeEnv + "," + listenEnv
)

func envList(groups ...string) string { return strings.Join(groups, ",") }

// Exit codes as each kind of command documents them.
const (
	exitCodesSimple = `  0  done
  1  it failed
  2  bad flags, arguments or configuration`
	exitCodesAll = `  0  done: the job completed, or the command did what it was asked
  1  the job failed (or was canceled), or the operation failed (e.g. an unknown job)
  2  bad flags, arguments or configuration, or the database or server could not be
     reached at start-up; one line names the flag or variable at fault
  3  stopped before the job was done (interrupted; the job can be resumed)`
	exitCodesJob = `  0  the job completed
  1  the job failed or was canceled (the failed sections are named)
  2  bad flags, arguments or configuration, or the database could not be reached
  3  interrupted before the end; the job goes back to pending and can be resumed`
	exitCodesClient = `  0  done
  1  it failed: an unknown job, or one in a state that does not allow it
  2  bad flags, arguments or configuration, or the database or server
     (CODECHECK_API_URL) could not be reached, or refused the key`
	exitCodesServer = `  0  stopped by SIGTERM or Ctrl-C after draining
  1  it failed while running
  2  bad flags or configuration, or the database could not be reached or the
     address not listened on at start-up`
)
