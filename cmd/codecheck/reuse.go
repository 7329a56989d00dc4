package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// The reuse settings: what a job that does not say is given, and how old
// reused research may be in this process's workers.
var (
	envReuse = setting{Name: "CODECHECK_REUSE", Default: "1",
		Meaning: "a job's `reuse` when its request does not say (`POST /jobs`, `check` without `--reuse`): `1` takes the jurisdiction-wide sections (adopted codes, fire and life safety, accessibility, energy code, permitting process) from a recent job of the same jurisdiction, provider, model and project; `0` researches every section"}
	envReuseTTL = setting{Name: "CODECHECK_REUSE_TTL", Default: "30d",
		Meaning: "how old reused research may be, counted from when it was researched (`30d`, `72h`); `0` turns reuse off in this process's workers"}
)

// reuseTTL reads a duration that may be 0 (off) or given in days ("30d").
func (r *envReader) reuseTTL(s setting) time.Duration {
	v := strings.TrimSpace(r.str(s))
	if v == "0" {
		return 0
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 3650 {
			return time.Duration(n) * 24 * time.Hour
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail(s.Name, "must be 0 (off), a number of days such as 30d, or a duration such as 72h, got %q", v)
	}
	return d
}

// reuseFlag adds check's --reuse to fs: nil unless given, so that
// CODECHECK_REUSE decides.
func reuseFlag(fs *pflag.FlagSet) func() *bool {
	return optionalBool(fs, "reuse", "reuse the jurisdiction-wide sections of a recent job of the same jurisdiction, provider, model and project; --reuse=false researches every section (default: CODECHECK_REUSE, on)")
}
