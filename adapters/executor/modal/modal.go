// Package modal is the executor that runs each job as a call of a deployed
// Modal function (deploy/modal/modal_worker.py), through the official Go
// SDK. The function runs `codecheck work --job-id ID` against the shared
// Postgres store, so this package only hands jobs off and cancels them: it
// never touches the store, and it must not log or return credentials.
package modal

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	sdk "github.com/modal-labs/modal-client/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Name is the executor's name as recorded on jobs.
const Name = "modal"

// Defaults for Config, matching deploy/modal/modal_worker.py.
const (
	DefaultApp      = "code-check-worker"
	DefaultFunction = "process_research_job"
)

// Config says which deployed function runs jobs.
type Config struct {
	App         string // CODECHECK_MODAL_APP; default DefaultApp
	Function    string // CODECHECK_MODAL_FUNCTION; default DefaultFunction
	Environment string // Modal environment; empty: the profile's (MODAL_ENVIRONMENT) or Modal's default
	// Client is used instead of a client built from the environment
	// (MODAL_TOKEN_ID, MODAL_TOKEN_SECRET, MODAL_SERVER_URL). The executor
	// does not close a client it was given.
	Client *sdk.Client
	Logger *slog.Logger // default slog.Default()
}

// Executor submits jobs as Modal function calls.
type Executor struct {
	cfg       Config
	client    *sdk.Client
	ownClient bool
	log       *slog.Logger

	fn     atomic.Pointer[sdk.Function] // cached lookup; nil until looked up or after it went stale
	lookup chan struct{}                // one lookup at a time, without ignoring ctx
}

var _ ports.Executor = (*Executor)(nil)

// New returns an executor for cfg. It makes no network call: a missing
// function or bad credentials show up on the first Submit (or CheckDeployed).
// The error is a *ports.ExecutorError when the SDK client cannot be built.
func New(ctx context.Context, cfg Config) (*Executor, error) {
	if cfg.App == "" {
		cfg.App = DefaultApp
	}
	if cfg.Function == "" {
		cfg.Function = DefaultFunction
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Executor{cfg: cfg, client: cfg.Client, log: cfg.Logger, lookup: make(chan struct{}, 1)}
	if e.client == nil {
		c, err := sdk.NewClientWithOptions(&sdk.ClientParams{Environment: cfg.Environment})
		if err != nil {
			return nil, &ports.ExecutorError{Executor: Name, Err: fmt.Errorf(
				"creating the Modal client (check MODAL_SERVER_URL, MODAL_TOKEN_ID and MODAL_TOKEN_SECRET): %w", err)}
		}
		e.client, e.ownClient = c, true
	}
	e.log.DebugContext(ctx, "modal executor ready", "app", cfg.App, "function", cfg.Function, "environment", cfg.Environment)
	return e, nil
}

// Name returns "modal".
func (e *Executor) Name() string { return Name }

// Close releases the SDK client's connections if the executor built it.
func (e *Executor) Close() {
	if e.ownClient {
		e.client.Close()
	}
}

// CheckDeployed looks the function up (and caches it), so a server can say
// at start-up that it is not deployed or the credentials are wrong. Errors
// are classified like Submit's.
func (e *Executor) CheckDeployed(ctx context.Context) error {
	if _, err := e.function(ctx); err != nil {
		return e.classify("look up", err)
	}
	return nil
}

// Submit spawns the function with (job id, address, provider, worker
// token) and returns the function-call id. A function that vanished since
// it was looked up (e.g. redeployed) is looked up once more before giving
// up.
func (e *Executor) Submit(ctx context.Context, h ports.Handoff) (string, error) {
	job := h.Job
	args := []any{job.ID, job.Address, job.Provider, h.Token}
	fn, err := e.function(ctx)
	if err != nil {
		return "", e.classify("look up", err)
	}
	call, err := fn.Spawn(ctx, args, nil)
	if status.Code(err) == codes.NotFound {
		e.log.InfoContext(ctx, "modal function gone since lookup, looking it up again",
			"job_id", job.ID, "attempt", job.Attempt, "app", e.cfg.App, "function", e.cfg.Function)
		e.fn.CompareAndSwap(fn, nil)
		if fn, err = e.function(ctx); err != nil {
			return "", e.classify("look up", err)
		}
		call, err = fn.Spawn(ctx, args, nil)
	}
	if err != nil {
		return "", e.classify("spawn", err)
	}
	e.log.DebugContext(ctx, "modal function call spawned", "job_id", job.ID, "attempt", job.Attempt, "function_call_id", call.FunctionCallID)
	return call.FunctionCallID, nil
}

// Cancel cancels the job's function call. A job without a call, or whose
// call Modal does not know, is not an error.
func (e *Executor) Cancel(ctx context.Context, job domain.Job) error {
	if job.ExecutorRef == "" {
		return nil
	}
	call, err := e.client.FunctionCalls.FromID(ctx, job.ExecutorRef, nil)
	if err == nil {
		// Cancel the input, not the container: the worker also stops by
		// itself once it sees the job canceled in the store.
		err = call.Cancel(ctx, &sdk.FunctionCallCancelParams{TerminateContainers: false})
	}
	if status.Code(err) == codes.NotFound {
		return nil
	}
	if err != nil {
		return e.classify("cancel call "+job.ExecutorRef+" of", err)
	}
	return nil
}

// function returns the cached function, looking it up when there is none.
func (e *Executor) function(ctx context.Context) (*sdk.Function, error) {
	if fn := e.fn.Load(); fn != nil {
		return fn, nil
	}
	select {
	case e.lookup <- struct{}{}:
		defer func() { <-e.lookup }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if fn := e.fn.Load(); fn != nil {
		return fn, nil // looked up while we waited
	}
	fn, err := e.client.Functions.FromName(ctx, e.cfg.App, e.cfg.Function, &sdk.FunctionFromNameParams{Environment: e.cfg.Environment})
	if err != nil {
		return nil, err
	}
	e.fn.Store(fn)
	return fn, nil
}
