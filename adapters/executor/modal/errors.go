package modal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	sdk "github.com/modal-labs/modal-client/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codecheck/codecheck/ports"
)

// failure is what kind of failure an SDK error is, for the caller.
type failure int

const (
	failPermanent failure = iota
	failNotDeployed
	failAuth
	failTransient
)

// classify wraps an SDK error in a *ports.ExecutorError whose message says
// what to do about it. SDK errors carry Modal's messages and never the
// token, so wrapping them leaks nothing.
func (e *Executor) classify(op string, err error) error {
	target := fmt.Sprintf("%s/%s", e.cfg.App, e.cfg.Function)
	if e.cfg.Environment != "" {
		target += " in environment " + e.cfg.Environment
	}
	var wrapped error
	kind := failureOf(err)
	switch kind {
	case failNotDeployed:
		wrapped = fmt.Errorf("%s %s: Modal function not found: deploy it with `modal deploy deploy/modal/modal_worker.py`, "+
			"or set CODECHECK_MODAL_APP and CODECHECK_MODAL_FUNCTION to the deployed app and function: %w", op, target, err)
	case failAuth:
		wrapped = fmt.Errorf("%s %s: Modal credentials missing or refused: check MODAL_TOKEN_ID and MODAL_TOKEN_SECRET "+
			"(a token pair from `modal token new`): %w", op, target, err)
	case failTransient:
		wrapped = fmt.Errorf("%s %s: Modal unavailable, try again later: %w", op, target, err)
	default:
		wrapped = fmt.Errorf("%s %s: %w", op, target, err)
	}
	return &ports.ExecutorError{Executor: Name, Retryable: kind == failTransient, Err: wrapped}
}

// failureOf sorts SDK errors: the SDK returns its own types for some
// (NotFoundError from FromName) and bare or wrapped gRPC statuses for the
// rest (Spawn, Cancel), after retrying transient codes itself.
func failureOf(err error) failure {
	var notFound sdk.NotFoundError
	var exhausted sdk.ResourceExhaustedError
	var internal sdk.InternalFailure
	var netErr net.Error
	switch {
	case errors.As(err, &notFound):
		return failNotDeployed
	case errors.As(err, &exhausted), errors.As(err, &internal),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return failTransient
	case strings.Contains(err.Error(), "missing credentials"):
		// The SDK's plain error when no token is configured at all.
		return failAuth
	}
	if st, ok := status.FromError(err); ok {
		return failureOfCode(st.Code())
	}
	if errors.As(err, &netErr) {
		return failTransient
	}
	return failPermanent
}

func failureOfCode(code codes.Code) failure {
	switch code {
	case codes.NotFound:
		return failNotDeployed
	case codes.Unauthenticated, codes.PermissionDenied:
		return failAuth
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted,
		codes.Internal, codes.Unknown, codes.Canceled:
		return failTransient
	default:
		return failPermanent
	}
}
