package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/codecheck/codecheck/domain"
)

// Problem types that tell apart errors sharing a status, so that a client
// (the worker API's store adapter) can turn them back into domain errors.
const (
	// ProblemLeaseLost: a worker wrote with an attempt that is no longer the
	// job's (another attempt took over, or the job was canceled).
	ProblemLeaseLost = "urn:codecheck:problem:lease-lost"
	// ProblemLeaseHeld: the job is processing under another worker's live
	// lease.
	ProblemLeaseHeld = "urn:codecheck:problem:lease-held"
)

// problems is the one table from domain errors to HTTP statuses (and, where
// a status is shared, problem types). The first match wins, so more
// specific errors come first.
var problems = []struct {
	err    error
	status int
	typ    string
	detail func(error) string
}{
	{domain.ErrNotFound, http.StatusNotFound, "", fixed("job not found")},
	{domain.ErrUnauthenticated, http.StatusUnauthorized, "", sentinelDetail(domain.ErrUnauthenticated)},
	{domain.ErrForbidden, http.StatusForbidden, "", sentinelDetail(domain.ErrForbidden)},
	{domain.ErrIdempotencyMismatch, http.StatusUnprocessableEntity, "",
		fixed("Idempotency-Key was already used with a different request body")},
	{domain.ErrInvalid, http.StatusUnprocessableEntity, "", invalidDetail},
	{domain.ErrLeaseLost, http.StatusConflict, ProblemLeaseLost,
		fixed("the lease is lost: the job was canceled or moved on to another attempt")},
	{domain.ErrLeaseHeld, http.StatusConflict, ProblemLeaseHeld,
		fixed("another worker holds a live lease on the job")},
	{domain.ErrConflict, http.StatusConflict, "", conflictDetail},
}

func fixed(msg string) func(error) string { return func(error) string { return msg } }

func invalidDetail(err error) string {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return "validation failed"
	}
	return err.Error()
}

// sentinelDetail drops the sentinel's own ": unauthenticated" suffix: the
// title already says it. Worker token errors name what is wrong without
// echoing the token.
func sentinelDetail(sentinel error) func(error) string {
	return func(err error) string { return strings.TrimSuffix(err.Error(), ": "+sentinel.Error()) }
}

// conflictDetail drops the sentinel's own "conflict: " prefix: the title
// already says Conflict.
func conflictDetail(err error) string {
	return strings.TrimPrefix(err.Error(), domain.ErrConflict.Error()+": ")
}

// nonBodyFields locate validation errors on fields that are not in the
// request body (errors[].location).
var nonBodyFields = map[string]string{
	"Idempotency-Key": "header.Idempotency-Key",
	"status":          "query.status",
	"limit":           "query.limit",
	"cursor":          "query.cursor",
}

func location(field string) string {
	if loc, ok := nonBodyFields[field]; ok {
		return loc
	}
	return "body." + field
}

// problem turns an error from the app into a Huma problem. Unknown errors
// become a generic 500: the real error is logged, never sent.
func (s *Server) problem(ctx context.Context, err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		return err
	}
	for _, p := range problems {
		if errors.Is(err, p.err) {
			e := huma.NewError(p.status, p.detail(err), details(err)...)
			if m, ok := e.(*huma.ErrorModel); ok && p.typ != "" {
				m.Type = p.typ
			}
			return e
		}
	}
	if ctx.Err() != nil {
		// The client went away; nobody reads the answer.
		return huma.NewError(http.StatusServiceUnavailable, "request canceled")
	}
	s.log.ErrorContext(ctx, "request failed", "err", err)
	return huma.Error500InternalServerError("internal server error")
}

func details(err error) []error {
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	msg := ve.Rule
	if ve.EnvVar != "" {
		msg += "; set " + ve.EnvVar + " on the server to enable it"
	}
	return []error{&huma.ErrorDetail{Message: msg, Location: location(ve.Field)}}
}
