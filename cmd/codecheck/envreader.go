package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/codecheck/codecheck/adapters/store/postgres"
)

// envReader reads settings, falling back to their defaults, and keeps the
// first error, which names the variable.
type envReader struct {
	getenv func(string) string
	err    error
}

func (r *envReader) str(s setting) string {
	if v := strings.TrimSpace(r.getenv(s.Name)); v != "" {
		return v
	}
	return s.Default
}

func (r *envReader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (r *envReader) int(s setting, min, max int) int {
	v := r.str(s)
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail(s.Name, "must be a whole number from %d to %d, got %q", min, max, v)
	}
	return n
}

// optionalInt is int for a setting without a default: unset is 0.
func (r *envReader) optionalInt(s setting, min, max int) int {
	if r.str(s) == "" {
		return 0
	}
	return r.int(s, min, max)
}

// pooler reads a CODECHECK_DB_POOLER value; unset is "" (detect).
func (r *envReader) pooler(s setting) postgres.Pooler {
	p, err := postgres.ParsePooler(r.str(s))
	if err != nil {
		r.fail(s.Name, "%v", err)
	}
	return p
}

func (r *envReader) duration(s setting) time.Duration {
	v := r.str(s)
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(s.Name, "must be a positive duration such as 30s or 5m, got %q", v)
	}
	return d
}

// latency reads a duration that may be zero: none at all.
func (r *envReader) latency(s setting) time.Duration {
	v := r.str(s)
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail(s.Name, "must be a duration of 0 or more such as 0, 300ms or 2s, got %q", v)
	}
	return d
}

func (r *envReader) bool(s setting) bool {
	switch v := strings.ToLower(r.str(s)); v {
	case "", "0", "false", "no", "off":
		return false
	case "1", "true", "yes", "on":
		return true
	default:
		r.fail(s.Name, "must be 1 or 0, got %q", v)
		return false
	}
}

func (r *envReader) float(s setting) float64 {
	v := r.str(s)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.fail(s.Name, "must be a number, got %q", v)
	}
	return f
}

func (r *envReader) provider(p providerSettings) providerConfig {
	return providerConfig{APIKey: r.str(p.Key), BaseURL: r.str(p.BaseURL), Model: r.str(p.Model)}
}
