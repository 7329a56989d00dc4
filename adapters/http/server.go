package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/codecheck/codecheck/adapters/http/site"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/ports"
)

// APIVersion is the version of the HTTP API in the spec (info.version). It
// changes with the contract, not with every build.
const APIVersion = "1.0.0"

// DefaultMaxBodyBytes bounds request bodies: bodies of this size or larger
// get 413.
const DefaultMaxBodyBytes = 64 << 10

// DefaultKeepAlive is how often an idle event stream sends a comment so that
// proxies keep it open.
const DefaultKeepAlive = 15 * time.Second

// DefaultRetry is the reconnect delay event streams ask EventSource for:
// long enough that a finished job's one last reconnect (answered 204) costs
// nothing, short enough that a dropped stream resumes promptly.
const DefaultRetry = 3 * time.Second

// Config holds the server's dependencies and settings.
type Config struct {
	Service *app.Service
	// APIKeys, when not empty, are the bearer keys every /jobs operation
	// requires (CODECHECK_API_KEYS).
	APIKeys []string
	Logger  *slog.Logger
	// Metrics, when set, counts submissions and requests and is served on
	// GET /metrics.
	Metrics Metrics
	// Version is the build version shown by /healthz.
	Version string
	// MaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// KeepAlive is the idle interval of event streams (default
	// DefaultKeepAlive).
	KeepAlive time.Duration
	// Retry is the reconnect delay event streams send in their retry:
	// field (default DefaultRetry).
	Retry time.Duration
	// WorkerTokens, when set, enables the worker API under /worker: the
	// worker's side of the store for workers holding a per-job token
	// (CODECHECK_WORKER_SECRET). When nil those routes answer 404 like
	// unknown ones (the spec documents them either way).
	WorkerTokens *app.WorkerTokens
	// WorkerStore is the store the worker API serves; required with
	// WorkerTokens.
	WorkerStore ports.WorkerStore
	// ProviderRate, when set, is the rate the worker API grants provider
	// calls at (CODECHECK_PROVIDER_RPM), whatever a worker asks for.
	ProviderRate ports.Rate
}

// Metrics records the API's activity and serves what it recorded (the
// metrics adapter is one; cmd connects them).
type Metrics interface {
	// JobSubmitted counts a job created through POST /jobs (not a replay).
	JobSubmitted(provider string)
	// ObserveRequest records one finished request by route and status.
	ObserveRequest(method, route string, status int, took time.Duration)
	// Handler serves the metrics in the Prometheus text format.
	Handler() http.Handler
}

// Server is the REST API.
type Server struct {
	cfg  Config
	svc  *app.Service
	log  *slog.Logger
	keys [][32]byte
	mux  *http.ServeMux
	api  huma.API

	closing   chan struct{} // closed by Close: event streams end
	closeOnce sync.Once
}

// New builds the API around cfg.Service.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil {
		return nil, errors.New("httpapi.New: Service is required")
	}
	if cfg.WorkerTokens != nil && cfg.WorkerStore == nil {
		return nil, errors.New("httpapi.New: WorkerStore is required with WorkerTokens")
	}
	return newServer(cfg), nil
}

func newServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultRetry
	}
	s := &Server{cfg: cfg, svc: cfg.Service, log: cfg.Logger, keys: hashKeys(cfg.APIKeys),
		mux: http.NewServeMux(), closing: make(chan struct{})}
	s.api = humago.New(s.mux, apiConfig())
	registerEnums(s.api.OpenAPI().Components.Schemas)
	s.api.UseMiddleware(s.observe, s.authenticate)
	s.registerJobs()
	s.registerEvents()
	s.registerHealth()
	s.registerWorker()
	documentSubmitExample(s.api)
	documentRequestID(s.api)
	site.Mount(s.mux) // the page at /, /docs and their embedded assets
	if cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	return s
}

func apiConfig() huma.Config {
	c := huma.DefaultConfig("codecheck", APIVersion)
	// No $schema links in responses: clients get exactly the documented
	// fields.
	c.CreateHooks = nil
	c.Transformers = append(c.Transformers, problemRequestID)
	// /docs is served by package site from embedded assets, not a CDN.
	c.DocsPath = ""
	c.Info.Description = "Researches the building-code, zoning and permitting facts that apply to one " +
		"property address and returns them as a 13-section report with sources. Submit a job, then poll " +
		"it or follow its live event stream.\n\nErrors are RFC 9457 problem documents " +
		"(application/problem+json) with a stable `type` (urn:codecheck:problem:<code>), its `code`, and the " +
		"`request_id` that every response also carries in `X-Request-Id` (a sane incoming X-Request-Id is kept). When the server has API keys (CODECHECK_API_KEYS), every /jobs " +
		"operation needs `Authorization: Bearer <key>`."
	// No open-source licence has been granted: say so rather than leave
	// clients guessing (an OpenAPI linter asks for the field).
	c.Info.License = &huma.License{Name: "Proprietary: all rights reserved"}
	// One relative server, "/": the spec describes the server that serves
	// it, whatever its address (CODECHECK_ADDR, a proxy), so /docs "Try it
	// out" calls that same server. A path-only URL does not prefix routes.
	c.Servers = []*huma.Server{{URL: "/", Description: "The codecheck server that serves this spec."}}
	c.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {Type: "http", Scheme: "bearer",
			Description: "An API key from CODECHECK_API_KEYS. Required only when the server is configured with keys."},
	}
	c.Tags = []*huma.Tag{
		{Name: "jobs", Description: "Submit research jobs and follow them."},
		{Name: "ops", Description: "Health, readiness and metrics."},
	}
	return c
}

// Handler returns the HTTP handler serving the API, /metrics, the spec and
// the docs page. Every request gets an id (X-Request-Id).
func (s *Server) Handler() http.Handler { return withRequestID(http.HandlerFunc(s.problemRoutes)) }

// API returns the Huma API, e.g. to add operations.
func (s *Server) API() huma.API { return s.api }

// Close ends every open event stream (clients resume with Last-Event-ID).
// Register it with http.Server.RegisterOnShutdown: Shutdown does not wait
// for streams that never go idle.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closing) }) }

// Spec returns the OpenAPI 3.1 document as JSON or YAML. It needs no store:
// the operations are registered but never called.
func Spec(yaml bool) ([]byte, error) {
	api := newServer(Config{Logger: slog.New(slog.DiscardHandler)}).api
	if yaml {
		return api.OpenAPI().YAML()
	}
	return json.MarshalIndent(api.OpenAPI(), "", "  ")
}

// Spec30 returns the same document downgraded to OpenAPI 3.0.3, as YAML
// (served at /openapi-3.0.yaml): the input of the generated Go client,
// whose generator reads 3.0 only.
func Spec30() ([]byte, error) {
	return newServer(Config{Logger: slog.New(slog.DiscardHandler)}).api.OpenAPI().DowngradeYAML()
}

// observe logs each request and records it in the metrics.
func (s *Server) observe(ctx huma.Context, next func(huma.Context)) {
	start := time.Now()
	next(ctx)
	op := ctx.Operation()
	took := time.Since(start)
	status := ctx.Status()
	if status == 0 {
		status = http.StatusOK
	}
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.ObserveRequest(op.Method, op.Path, status, took)
	}
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	s.log.Log(ctx.Context(), level, "http request", "method", op.Method, "route", op.Path,
		"status", status, "took", took, "request_id", RequestID(ctx.Context()))
}
