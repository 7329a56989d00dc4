package main

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/codecheck/codecheck/adapters/executor/modal"
	"github.com/codecheck/codecheck/adapters/llm/gemini"
	"github.com/codecheck/codecheck/adapters/llm/openai"
	"github.com/codecheck/codecheck/adapters/llm/perplexity"
	"github.com/codecheck/codecheck/adapters/store/postgres"
	"github.com/codecheck/codecheck/app"
)

// setting is one environment variable codecheck reads. The settings below
// are the one place where a variable's name, default and meaning are
// written: loadConfig parses through them, messages name them, and the
// configuration table of README.md is generated from them (TestREADME
// keeps the two equal; go test ./cmd/codecheck -run README -update
// rewrites it).
type setting struct {
	Name string
	// Default is the value used when the variable is unset, as parsed and as
	// documented; "" means unset.
	Default string
	// Unset describes an empty Default in the README: "off", "none", what
	// happens instead.
	Unset   string
	Meaning string
}

// Defaults that belong to no other package live here, once.
var (
	envDatabaseURL = setting{Name: "DATABASE_URL", Default: "sqlite:codecheck.db",
		Meaning: "`sqlite:PATH` (embedded SQLite) or `postgres://...` (Postgres)"}
	envListenDatabaseURL = setting{Name: "CODECHECK_LISTEN_DATABASE_URL", Unset: "`DATABASE_URL`",
		Meaning: "direct (session) Postgres connection for LISTEN/NOTIFY when `DATABASE_URL` goes through a transaction pooler"}
	envDBPooler = setting{Name: "CODECHECK_DB_POOLER", Unset: "detected: `transaction` on port 6543 and Supabase's pooler hosts, else `none`",
		Meaning: "`transaction`, `session` or `none`: the pooler in front of Postgres. In transaction mode (PgBouncer, Supavisor) codecheck uses no prepared statements and never LISTENs through `DATABASE_URL`: it LISTENs on `CODECHECK_LISTEN_DATABASE_URL` or polls"}
	envDBMaxConns = setting{Name: "CODECHECK_DB_MAX_CONNS", Unset: "per command: `serve` 8, `worker` 4, `work` 2, `check` 4, others 2; a `pool_max_conns` in the URL wins over these",
		Meaning: "Postgres connections in one process's pool; `serve`, `worker` and `check` add one LISTEN connection (none behind a transaction pooler without `CODECHECK_LISTEN_DATABASE_URL`), `work` none (it polls)"}
	envDBWorkerConns = setting{Name: "CODECHECK_DB_WORKER_CONNS", Unset: "one per `CODECHECK_WORKERS`, at least 8 and at most 32",
		Meaning: "`serve` on Postgres with LISTEN: connections of a second pool for its workers and the worker API, so that API requests never wait behind section saves for `CODECHECK_DB_MAX_CONNS`'s pool (`serve` then holds up to 8 + 8 + 1 by default); `0`, or a transaction pooler without `CODECHECK_LISTEN_DATABASE_URL`, shares one pool"}
	envDBSchema = setting{Name: "CODECHECK_DB_SCHEMA", Unset: "the URL's `search_path`, else `" + postgres.DefaultSchema + "`",
		Meaning: "Postgres schema of codecheck's tables (never `public`, which Supabase's Data API exposes, unless you say so); tables an earlier version made in the default schema are moved there on `migrate`"}
	envAddr = setting{Name: "CODECHECK_ADDR", Default: "127.0.0.1:8080",
		Meaning: "listen address of `serve`: the API and its `/metrics`"}
	envMetricsAddr = setting{Name: "CODECHECK_METRICS_ADDR", Default: "127.0.0.1:9090",
		Meaning: "listen address of the `/metrics` endpoint of `worker`; `off` turns it off"}
	envExecutor = setting{Name: "CODECHECK_EXECUTOR", Default: "local",
		Meaning: "`local` (goroutines in the server) or `modal`"}
	envWorkers = setting{Name: "CODECHECK_WORKERS", Default: strconv.Itoa(app.DefaultWorkers),
		Meaning: "jobs run at once by one `serve` or `worker` process"}
	envSectionConcurrency = setting{Name: "CODECHECK_SECTION_CONCURRENCY", Default: strconv.Itoa(app.DefaultSectionConcurrency),
		Meaning: "sections run at once within one job (1 to 13)"}
	envJobTimeout = setting{Name: "CODECHECK_JOB_TIMEOUT", Default: durationText(app.DefaultJobTimeout),
		Meaning: "limit for one attempt at a job"}
	envLease = setting{Name: "CODECHECK_LEASE", Default: durationText(app.DefaultLease),
		Meaning: "worker lease (at least 1s); heartbeat every third of it"}
	envMaxAttempts = setting{Name: "CODECHECK_MAX_ATTEMPTS", Default: strconv.Itoa(app.DefaultMaxAttempts),
		Meaning: "attempts at a job whose workers are lost"}
	envDrainTimeout = setting{Name: "CODECHECK_DRAIN_TIMEOUT", Default: "20s",
		Meaning: "on SIGTERM, how long running sections may finish"}
	envDispatchConcurrency = setting{Name: "CODECHECK_DISPATCH_CONCURRENCY", Default: strconv.Itoa(app.DefaultDispatchConcurrency),
		Meaning: "hand-offs to the executor one `serve` makes at once"}
	envHandoffTimeout = setting{Name: "CODECHECK_HANDOFF_TIMEOUT", Default: durationText(app.DefaultHandoffTimeout),
		Meaning: "a job handed to the executor that no worker claimed within this time (e.g. a Modal container that died on start) is handed off again"}
	envDefaultProvider = setting{Name: "CODECHECK_DEFAULT_PROVIDER", Unset: "first configured of " + knownProviderNames(),
		Meaning: "provider when a job names none"}
	envProviderConcurrency = setting{Name: "CODECHECK_PROVIDER_CONCURRENCY", Default: "8",
		Meaning: "concurrent requests per provider in one process (each process and container has its own)"}
	envProviderRPM = setting{Name: "CODECHECK_PROVIDER_RPM", Default: "120",
		Meaning: "requests per minute per provider: one budget for every process and container on the same database (kept in it, or granted through the worker API), with bursts of up to 13 calls or a tenth of the rate; set the same value everywhere"}
	envProviderTimeout = setting{Name: "CODECHECK_PROVIDER_TIMEOUT", Default: "120s",
		Meaning: "timeout of one provider request"}
	envFakeLLM = setting{Name: "CODECHECK_FAKE_LLM", Unset: "off",
		Meaning: "`1` registers the simulated `fake` provider (`--provider fake` does too)"}
	envFakeLatency = setting{Name: "CODECHECK_FAKE_LLM_LATENCY", Default: "100ms",
		Meaning: "per-call latency of the fake provider; 0 for none (to measure the machinery alone)"}
	envFakeFailRate = setting{Name: "CODECHECK_FAKE_LLM_FAIL_RATE", Default: "0",
		Meaning: "fraction (0 to 1) of fake calls that fail with a retryable error"}
	envFakeLog = setting{Name: "CODECHECK_FAKE_LLM_LOG", Unset: "none",
		Meaning: "file to which the fake provider appends `job_id section_key attempt` per call (`section_key/verify` for a verification)"}
	envWorkerSecret = setting{Name: "CODECHECK_WORKER_SECRET", Unset: "off",
		Meaning: "`serve`: turns on the worker API (`/worker/jobs/...`) and signs the per-job token each hand-off carries (HMAC; at least 32 characters, the same on every replica)"}
	envAPIURL = setting{Name: "CODECHECK_API_URL", Unset: "`DATABASE_URL` is used",
		Meaning: "base URL of a `serve`. `list`, `watch`, `cancel`, `retry` and `report` then act on that server's jobs through its API instead of the local store; `work` (with `CODECHECK_WORKER_SECRET` on the server) runs its job through the worker API and needs no database"}
	envAPIKey = setting{Name: "CODECHECK_API_KEY", Unset: "none",
		Meaning: "with `CODECHECK_API_URL`: the key `list`, `watch`, `cancel`, `retry` and `report` send (one of the server's `CODECHECK_API_KEYS`)"}
	envWorkerToken = setting{Name: "CODECHECK_WORKER_TOKEN", Unset: "none",
		Meaning: "`work` with `CODECHECK_API_URL`: the job's worker token (the Modal spawn's fourth argument); environment only, never the command line"}
	envAPIKeys = setting{Name: "CODECHECK_API_KEYS", Unset: "empty",
		Meaning: "comma-separated bearer keys (constant-time compare); empty = no auth, which is allowed only on a loopback address"}
	envInsecureNoAuth = setting{Name: "CODECHECK_INSECURE_NO_AUTH", Unset: "off",
		Meaning: "`1` allows a non-loopback address without keys"}
	envWebhookSecret = setting{Name: "CODECHECK_WEBHOOK_SECRET", Unset: "empty",
		Meaning: "signing key (`whsec_<base64>` or raw); several comma-separated keys (rotation) sign each delivery with each, any one verifies; webhooks are off (a `webhook_url` gets 422) when unset"}
	envWebhookAllowPrivate = setting{Name: "CODECHECK_WEBHOOK_ALLOW_PRIVATE", Unset: "off",
		Meaning: "`1` allows webhook targets on loopback, private or link-local addresses"}
	envModalApp = setting{Name: "CODECHECK_MODAL_APP", Default: modal.DefaultApp,
		Meaning: "the deployed Modal app (with `CODECHECK_EXECUTOR=modal`)"}
	envModalFunction = setting{Name: "CODECHECK_MODAL_FUNCTION", Default: modal.DefaultFunction,
		Meaning: "the Modal function that runs `codecheck work`"}
	envLogFormat = setting{Name: "CODECHECK_LOG_FORMAT", Default: "text",
		Meaning: "log output: `text` or `json`"}
	envLogLevel = setting{Name: "CODECHECK_LOG_LEVEL", Default: "info",
		Meaning: "`debug`, `info`, `warn` or `error` (`check` defaults to `warn`: its progress display speaks for it)"}
)

// providerSettings are the variables of one real LLM provider; their names
// and defaults belong to its adapter.
type providerSettings struct{ Key, BaseURL, Model setting }

var (
	perplexitySettings = providerSettings{
		Key:     setting{Name: perplexity.KeyEnvVar, Unset: "none", Meaning: "enables Perplexity (Agent API, `web_search` tool)"},
		BaseURL: setting{Name: perplexity.BaseURLEnvVar, Default: perplexity.DefaultBaseURL, Meaning: "Perplexity API base URL (a proxy, say)"},
		Model:   setting{Name: perplexity.ModelEnvVar, Default: perplexity.DefaultModel, Meaning: "Perplexity model"},
	}
	openaiSettings = providerSettings{
		Key:     setting{Name: openai.KeyEnvVar, Unset: "none", Meaning: "enables OpenAI"},
		BaseURL: setting{Name: openai.BaseURLEnvVar, Default: openai.DefaultBaseURL, Meaning: "OpenAI API base URL, including `/v1`"},
		Model: setting{Name: openai.ModelEnvVar, Default: openai.DefaultModel,
			Meaning: "OpenAI model; it must be able to use the `web_search` tool (gpt-4o, gpt-4.1, o3, o4-mini, gpt-5 and later)"},
	}
	envOpenAIAllowUngrounded = setting{Name: openai.AllowUngroundedEnvVar, Unset: "off",
		Meaning: "`1` accepts an `OPENAI_MODEL` that cannot search: its sections have no sources and need verification"}
	geminiSettings = providerSettings{
		Key:     setting{Name: gemini.KeyEnvVar, Unset: "none", Meaning: "enables Gemini (Google Search grounding)"},
		BaseURL: setting{Name: gemini.BaseURLEnvVar, Default: gemini.DefaultBaseURL, Meaning: "Gemini API base URL"},
		Model:   setting{Name: gemini.ModelEnvVar, Default: gemini.DefaultModel, Meaning: "Gemini model"},
	}
)

// settings lists every variable in the order of the README's table.
var settings = []setting{
	envDatabaseURL, envListenDatabaseURL, envDBPooler, envDBMaxConns, envDBWorkerConns, envDBSchema, envAddr, envMetricsAddr, envExecutor, envWorkers, envSectionConcurrency,
	envJobTimeout, envLease, envMaxAttempts, envDrainTimeout, envDispatchConcurrency, envHandoffTimeout,
	envAPIKeys, envInsecureNoAuth, envWebhookSecret, envWebhookAllowPrivate,
	envWorkerSecret, envAPIURL, envAPIKey, envWorkerToken,
	envReuse, envReuseTTL, envVerify, envMaxCost, envPrices,
	envDefaultProvider, envProviderConcurrency, envProviderRPM, envProviderTimeout,
	perplexitySettings.Key, perplexitySettings.BaseURL, perplexitySettings.Model,
	openaiSettings.Key, openaiSettings.BaseURL, openaiSettings.Model, envOpenAIAllowUngrounded,
	geminiSettings.Key, geminiSettings.BaseURL, geminiSettings.Model,
	envFakeLLM, envFakeLatency, envFakeFailRate, envFakeLog,
	envModalApp, envModalFunction, envLogFormat, envLogLevel,
}

// metricsOff is the CODECHECK_METRICS_ADDR value that turns the worker's
// metrics listener off.
const metricsOff = "off"

// durationText writes d the way it is documented and typed: 30s, 5m, 100ms.
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func knownProviderNames() string {
	names := make([]string, len(app.KnownProviders))
	for i, p := range app.KnownProviders {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// config is every setting, read once from the environment (flags override
// some), validated, and passed down as typed values.
type config struct {
	Addr              string
	MetricsAddr       string // "" = no metrics listener
	DatabaseURL       string
	ListenDatabaseURL string
	DBPooler          postgres.Pooler // "" = detect
	DBMaxConns        int             // 0 = the command's default
	DBWorkerConns     int             // serve's worker pool; 0 = none, one shared pool
	DBSchema          string          // "" = the URL's search_path, else postgres.DefaultSchema
	Executor          string
	Workers           int
	SectionConc       int
	JobTimeout        time.Duration
	Lease             time.Duration
	MaxAttempts       int
	DrainTimeout      time.Duration
	DispatchConc      int
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

	WorkerSecret string // "" = no worker API
	APIURL       string // "" = the local store (DATABASE_URL)
	APIKey       string
	WorkerToken  string

	LogFormat, LogLevel string

	Cost costConfig // CODECHECK_MAX_COST_USD, CODECHECK_PRICES

	Reuse    bool          // CODECHECK_REUSE: a job's reuse when it does not say
	ReuseTTL time.Duration // 0 = workers reuse nothing

	Verify bool // CODECHECK_VERIFY: a job's verify when it does not say
}

type providerConfig struct {
	APIKey, BaseURL, Model string
	AllowUngrounded        bool // OpenAI only: CODECHECK_OPENAI_ALLOW_UNGROUNDED
}

// storeURL is the parsed DATABASE_URL.
type storeURL struct {
	Postgres   bool
	SQLitePath string
	URL        string
}

// The default of CODECHECK_DB_WORKER_CONNS: a connection per worker, within
// these bounds. With 1,000 jobs in flight on this machine's Postgres, 8
// connections made each job wait for its writes (mean run 1.68× the ideal,
// 249 MB), 24 did not (1.10-1.14×, 170-179 MB): bench/inflight.sh.
const (
	defaultWorkerConns    = 8
	maxDefaultWorkerConns = 32
)

// loadConfig reads the environment. The error names the variable at fault.
func loadConfig(getenv func(string) string) (config, error) {
	r := &envReader{getenv: getenv}
	c := config{
		Addr:                r.str(envAddr),
		MetricsAddr:         r.str(envMetricsAddr),
		DatabaseURL:         r.str(envDatabaseURL),
		ListenDatabaseURL:   r.str(envListenDatabaseURL),
		DBPooler:            r.pooler(envDBPooler),
		DBMaxConns:          r.optionalInt(envDBMaxConns, 1, 10000),
		DBSchema:            r.str(envDBSchema),
		Executor:            r.str(envExecutor),
		Workers:             r.int(envWorkers, 1, 1000),
		SectionConc:         r.int(envSectionConcurrency, 1, 13),
		JobTimeout:          r.duration(envJobTimeout),
		Lease:               r.duration(envLease),
		MaxAttempts:         r.int(envMaxAttempts, 1, 100),
		DrainTimeout:        r.duration(envDrainTimeout),
		DispatchConc:        r.int(envDispatchConcurrency, 1, 1000),
		HandoffTimeout:      r.duration(envHandoffTimeout),
		APIKeys:             splitList(r.str(envAPIKeys)),
		InsecureNoAuth:      r.bool(envInsecureNoAuth),
		DefaultProvider:     r.str(envDefaultProvider),
		ProviderConc:        r.int(envProviderConcurrency, 1, 1000),
		ProviderRPM:         r.int(envProviderRPM, 1, 100000),
		ProviderTimeout:     r.duration(envProviderTimeout),
		FakeLLM:             r.bool(envFakeLLM),
		FakeLatency:         r.latency(envFakeLatency),
		FakeFailRate:        r.float(envFakeFailRate),
		FakeLog:             r.str(envFakeLog),
		Perplexity:          r.provider(perplexitySettings),
		OpenAI:              r.provider(openaiSettings),
		Gemini:              r.provider(geminiSettings),
		ModalApp:            r.str(envModalApp),
		ModalFunction:       r.str(envModalFunction),
		WebhookSecret:       r.str(envWebhookSecret),
		WebhookAllowPrivate: r.bool(envWebhookAllowPrivate),
		WorkerSecret:        r.str(envWorkerSecret),
		APIURL:              r.str(envAPIURL),
		APIKey:              r.str(envAPIKey),
		WorkerToken:         r.str(envWorkerToken),
		LogFormat:           r.str(envLogFormat),
		LogLevel:            r.str(envLogLevel),
	}
	c.OpenAI.AllowUngrounded = r.bool(envOpenAIAllowUngrounded)
	c.Cost = r.cost()
	c.Reuse, c.ReuseTTL = r.bool(envReuse), r.reuseTTL(envReuseTTL)
	c.Verify = r.bool(envVerify)
	c.DBWorkerConns = min(max(c.Workers, defaultWorkerConns), maxDefaultWorkerConns)
	if r.str(envDBWorkerConns) != "" {
		c.DBWorkerConns = r.int(envDBWorkerConns, 0, 10000)
	}
	if c.MetricsAddr == metricsOff {
		c.MetricsAddr = ""
	}
	c.validate(r)
	return c, r.err
}

// validate checks what parsing alone does not, recording the first error
// in r.
func (c config) validate(r *envReader) {
	if c.Lease < time.Second {
		r.fail(envLease.Name, "must be at least 1s, got %s", c.Lease)
	}
	if c.WorkerSecret != "" && len(c.WorkerSecret) < app.MinWorkerSecretLen {
		r.fail(envWorkerSecret.Name, "must be at least %d characters, got %d", app.MinWorkerSecretLen, len(c.WorkerSecret))
	}
	if u, err := url.Parse(c.APIURL); c.APIURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		r.fail(envAPIURL.Name, "must be an http or https URL, got %q", redactURL(c.APIURL))
	}
	if c.FakeFailRate < 0 || c.FakeFailRate > 1 {
		r.fail(envFakeFailRate.Name, "must be between 0 and 1, got %v", c.FakeFailRate)
	}
	if c.Executor != "local" && c.Executor != "modal" {
		r.fail(envExecutor.Name, "must be local or modal, got %q", c.Executor)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		r.fail(envLogFormat.Name, "must be text or json, got %q", c.LogFormat)
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		r.fail(envLogLevel.Name, "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	for _, p := range []struct {
		s   providerSettings
		url string
	}{{perplexitySettings, c.Perplexity.BaseURL}, {openaiSettings, c.OpenAI.BaseURL}, {geminiSettings, c.Gemini.BaseURL}} {
		if u, err := url.Parse(p.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.fail(p.s.BaseURL.Name, "must be an http or https URL, got %q", redactURL(p.url))
		}
	}
	if _, err := parseStoreURL(c.DatabaseURL); err != nil && r.err == nil {
		r.err = err
	}
}

// parseStoreURL reads DATABASE_URL: sqlite:PATH or postgres://...
func parseStoreURL(raw string) (storeURL, error) {
	name := envDatabaseURL.Name
	switch {
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		if path == "" {
			return storeURL{}, fmt.Errorf("%s: sqlite: needs a file path, e.g. sqlite:codecheck.db", name)
		}
		return storeURL{SQLitePath: path, URL: raw}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return storeURL{}, fmt.Errorf("%s: not a valid postgres URL (expected postgres://USER@HOST:PORT/DB)", name)
		}
		return storeURL{Postgres: true, URL: raw}, nil
	default:
		return storeURL{}, fmt.Errorf("%s: must start with sqlite: or postgres://, got %q", name, redactURL(raw))
	}
}

// redactURL hides a password in a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil && strings.Contains(raw, "@"):
		return "(an unparseable URL with credentials)"
	case err != nil:
		return raw
	}
	q := u.Query()
	if !q.Has("password") && u.User == nil {
		return raw
	}
	if q.Has("password") { // pgx takes the password as a query parameter too
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

func osGetenv(name string) string { return os.Getenv(name) }
