package main

import (
	"strings"

	"github.com/spf13/pflag"
)

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// optionalBool adds a boolean flag whose absence means "the server's
// default decides": the returned function gives nil unless the flag was
// given. Its printed default stays false, since the default is a setting's.
func optionalBool(fs *pflag.FlagSet, name, usage string) func() *bool {
	v := fs.Bool(name, false, usage)
	return func() *bool {
		if !fs.Changed(name) {
			return nil
		}
		return v
	}
}
