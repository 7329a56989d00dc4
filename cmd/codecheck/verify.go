package main

import "github.com/spf13/pflag"

// envVerify is what a job that does not say about verification is given.
var envVerify = setting{Name: "CODECHECK_VERIFY", Unset: "off",
	Meaning: "`1` gives jobs whose request does not say (`POST /jobs` without `verify`, `check` without `--verify`) a verification pass: a second provider call per section checks each finding against its cited sources (verified, contradicted, unverifiable)"}

// verifyFlag adds check's --verify to fs; the returned function gives the
// request's verify: nil unless the flag was given, so that CODECHECK_VERIFY
// decides.
func verifyFlag(fs *pflag.FlagSet) func() *bool {
	v := fs.Bool("verify", false, "verify every finding against its cited sources with a second provider call per section; --verify=false turns it off (default: CODECHECK_VERIFY)")
	return func() *bool {
		if !fs.Changed("verify") {
			return nil
		}
		return v
	}
}
