package main

import "github.com/spf13/pflag"

// envVerify is what a job that does not say about verification is given.
var envVerify = setting{Name: "CODECHECK_VERIFY", Unset: "off",
	Meaning: "`1` gives jobs whose request does not say (`POST /jobs` without `verify`, `check` without `--verify`) a verification pass: a second provider call per section checks each finding against its cited sources (verified, contradicted, unverifiable)"}

// verifyFlag adds check's --verify to fs: nil unless given, so that
// CODECHECK_VERIFY decides.
func verifyFlag(fs *pflag.FlagSet) func() *bool {
	return optionalBool(fs, "verify", "verify every finding against its cited sources with a second provider call per section; --verify=false turns it off (default: CODECHECK_VERIFY)")
}
