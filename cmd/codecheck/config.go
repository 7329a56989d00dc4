package main

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// config is every setting, read once from the environment (flags override
// some), validated, and passed down as typed values.
type config struct {
	Addr              string
	DatabaseURL       string
	ListenDatabaseURL string
	Executor          string
	Workers           int
	SectionConc       int
	JobTimeout        time.Duration
	Lease             time.Duration
	MaxAttempts       int
	DrainTimeout      time.Duration
	HandoffTimeout    time.Duration
	APIKeys           []string
	InsecureNoAuth    bool
	DefaultProvider   string
	ProviderConc      int
	ProviderRPM       int
	ProviderTimeout   time.Duration

	FakeLLM      bool
	FakeLatency  time.Duration
	FakeFailRate float64
	FakeLog      string

	Perplexity, OpenAI, Gemini providerConfig

	ModalApp, ModalFunction string

	WebhookSecret       string
	WebhookAllowPrivate bool

	LogFormat, LogLevel string
}

type providerConfig struct{ APIKey, BaseURL, Model string }

// store is the parsed DATABASE_URL.
type storeURL struct {
	Postgres   bool
	SQLitePath string
	URL        string
}

// envReader reads variables and keeps the first error, which names the
// variable.
type envReader struct {
	getenv func(string) string
	err    error
}

func (r *envReader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *envReader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (r *envReader) int(name string, def, min, max int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.fail(name, "must be a whole number from %d to %d, got %q", min, max, v)
		return def
	}
	return n
}

func (r *envReader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, "must be a positive duration such as 30s or 5m, got %q", v)
		return def
	}
	return d
}

func (r *envReader) bool(name string) bool {
	switch v := strings.ToLower(r.str(name, "")); v {
	case "", "0", "false", "no", "off":
		return false
	case "1", "true", "yes", "on":
		return true
	default:
		r.fail(name, "must be 1 or 0, got %q", v)
		return false
	}
}

func (r *envReader) float(name string, def float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.fail(name, "must be a number, got %q", v)
		return def
	}
	return f
}

// loadConfig reads the environment. The error names the variable at fault.
func loadConfig(getenv func(string) string) (config, error) {
	r := &envReader{getenv: getenv}
	c := config{
		Addr:              r.str("CODECHECK_ADDR", "127.0.0.1:8080"),
		DatabaseURL:       r.str("DATABASE_URL", "sqlite:codecheck.db"),
		ListenDatabaseURL: r.str("CODECHECK_LISTEN_DATABASE_URL", ""),
		Executor:          r.str("CODECHECK_EXECUTOR", "local"),
		Workers:           r.int("CODECHECK_WORKERS", 8, 1, 1000),
		SectionConc:       r.int("CODECHECK_SECTION_CONCURRENCY", 12, 1, 13),
		JobTimeout:        r.duration("CODECHECK_JOB_TIMEOUT", 300*time.Second),
		Lease:             r.duration("CODECHECK_LEASE", 30*time.Second),
		MaxAttempts:       r.int("CODECHECK_MAX_ATTEMPTS", 3, 1, 100),
		DrainTimeout:      r.duration("CODECHECK_DRAIN_TIMEOUT", 20*time.Second),
		HandoffTimeout:    r.duration("CODECHECK_HANDOFF_TIMEOUT", 5*time.Minute),
		InsecureNoAuth:    r.bool("CODECHECK_INSECURE_NO_AUTH"),
		DefaultProvider:   r.str("CODECHECK_DEFAULT_PROVIDER", ""),
		ProviderConc:      r.int("CODECHECK_PROVIDER_CONCURRENCY", 8, 1, 1000),
		ProviderRPM:       r.int("CODECHECK_PROVIDER_RPM", 120, 1, 100000),
		ProviderTimeout:   r.duration("CODECHECK_PROVIDER_TIMEOUT", 120*time.Second),
		FakeLLM:           r.bool("CODECHECK_FAKE_LLM"),
		FakeLatency:       r.duration("CODECHECK_FAKE_LLM_LATENCY", 100*time.Millisecond),
		FakeFailRate:      r.float("CODECHECK_FAKE_LLM_FAIL_RATE", 0),
		FakeLog:           r.str("CODECHECK_FAKE_LLM_LOG", ""),
		Perplexity: providerConfig{r.str("PERPLEXITY_API_KEY", ""), r.str("PERPLEXITY_BASE_URL", "https://api.perplexity.ai"),
			r.str("PERPLEXITY_MODEL", "perplexity/sonar")},
		OpenAI: providerConfig{r.str("OPENAI_API_KEY", ""), r.str("OPENAI_BASE_URL", "https://api.openai.com/v1"),
			r.str("OPENAI_MODEL", "gpt-4.1-mini")},
		Gemini: providerConfig{r.str("GEMINI_API_KEY", ""), r.str("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com/"),
			r.str("GEMINI_MODEL", "gemini-2.5-flash")},
		ModalApp:            r.str("CODECHECK_MODAL_APP", "code-check-worker"),
		ModalFunction:       r.str("CODECHECK_MODAL_FUNCTION", "process_research_job"),
		WebhookSecret:       r.str("CODECHECK_WEBHOOK_SECRET", ""),
		WebhookAllowPrivate: r.bool("CODECHECK_WEBHOOK_ALLOW_PRIVATE"),
		LogFormat:           r.str("CODECHECK_LOG_FORMAT", "text"),
		LogLevel:            r.str("CODECHECK_LOG_LEVEL", "info"),
	}
	for _, k := range strings.Split(r.str("CODECHECK_API_KEYS", ""), ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.APIKeys = append(c.APIKeys, k)
		}
	}
	if c.Lease < time.Second {
		r.fail("CODECHECK_LEASE", "must be at least 1s, got %s", c.Lease)
	}
	if c.FakeFailRate < 0 || c.FakeFailRate > 1 {
		r.fail("CODECHECK_FAKE_LLM_FAIL_RATE", "must be between 0 and 1, got %v", c.FakeFailRate)
	}
	if c.Executor != "local" && c.Executor != "modal" {
		r.fail("CODECHECK_EXECUTOR", "must be local or modal, got %q", c.Executor)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		r.fail("CODECHECK_LOG_FORMAT", "must be text or json, got %q", c.LogFormat)
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		r.fail("CODECHECK_LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	for name, u := range map[string]string{"PERPLEXITY_BASE_URL": c.Perplexity.BaseURL, "OPENAI_BASE_URL": c.OpenAI.BaseURL, "GEMINI_BASE_URL": c.Gemini.BaseURL} {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			r.fail(name, "must be an http or https URL, got %q", redactURL(u))
		}
	}
	if _, err := parseStoreURL(c.DatabaseURL); err != nil && r.err == nil {
		r.err = err
	}
	return c, r.err
}

// parseStoreURL reads DATABASE_URL: sqlite:PATH or postgres://...
func parseStoreURL(raw string) (storeURL, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		if path == "" {
			return storeURL{}, fmt.Errorf("DATABASE_URL: sqlite: needs a file path, e.g. sqlite:codecheck.db")
		}
		return storeURL{SQLitePath: path, URL: raw}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return storeURL{}, fmt.Errorf("DATABASE_URL: not a valid postgres URL (expected postgres://USER@HOST:PORT/DB)")
		}
		return storeURL{Postgres: true, URL: raw}, nil
	default:
		return storeURL{}, fmt.Errorf("DATABASE_URL: must start with sqlite: or postgres://, got %q", redactURL(raw))
	}
}

// redactURL hides a password in a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil && strings.Contains(raw, "@"):
		return "(an unparseable URL with credentials)"
	case err != nil || u.User == nil:
		return raw
	}
	return u.Redacted()
}

func osGetenv(name string) string { return os.Getenv(name) }
