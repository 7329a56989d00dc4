package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/codecheck/codecheck/domain"
)

// Problem types. Every problem document's type is
// urn:codecheck:problem:<code>, one per kind of error, and its code is the
// same <code>: a URN rather than an https URL, because it must stay the same
// on every deployment and need not resolve (RFC 9457 allows that), and
// codecheck owns no domain to publish them under; relative URIs are
// discouraged by RFC 9457. The worker API's client tells the 409s apart by
// the lease types. README lists every code.
const problemTypePrefix = "urn:codecheck:problem:"

const (
	// ProblemLeaseLost: a worker wrote with an attempt that is no longer the
	// job's (another attempt took over, or the job was canceled).
	ProblemLeaseLost = problemTypePrefix + "lease-lost"
	// ProblemLeaseHeld: the job is processing under another worker's live
	// lease.
	ProblemLeaseHeld = problemTypePrefix + "lease-held"
)

// Problem is an RFC 9457 problem document: Huma's error model with a stable
// code and the request's id. Every error the API writes is one (huma.NewError
// makes them, see init).
type Problem struct {
	Type      string              `json:"type" format:"uri-reference" doc:"The kind of error: urn:codecheck:problem:<code>." example:"urn:codecheck:problem:not-found"`
	Title     string              `json:"title" doc:"A short summary of the kind of error, the same for every occurrence." example:"Not found"`
	Status    int                 `json:"status" doc:"The HTTP status code." example:"404"`
	Detail    string              `json:"detail,omitempty" doc:"What went wrong this time." example:"job not found"`
	Instance  string              `json:"instance,omitempty" format:"uri-reference" doc:"A URI reference that identifies this occurrence."`
	Code      string              `json:"code" doc:"The kind of error as a stable, machine-readable code (the last part of type)." example:"not-found"`
	RequestID string              `json:"request_id,omitempty" doc:"The request's id, as in the X-Request-Id response header and the server's logs." example:"0b7c1e4f9d2a4c8e"`
	Errors    []*huma.ErrorDetail `json:"errors,omitempty" doc:"Which inputs broke which rule."`
}

func (p *Problem) Error() string  { return p.Detail }
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes JSON problems application/problem+json.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	if ct == "application/cbor" {
		return "application/problem+cbor"
	}
	return ct
}

// kind is one kind of problem: its code (and type) and title.
type kind struct{ code, title string }

// statusKinds are the kinds of errors told apart by their status alone,
// including those Huma and the router write themselves (400 malformed
// JSON, 413, 422 schema validation, 404 and 405 routes).
var statusKinds = map[int]kind{
	http.StatusBadRequest:            {"bad-request", "Malformed request"},
	http.StatusUnauthorized:          {"unauthenticated", "Authentication required"},
	http.StatusForbidden:             {"forbidden", "Forbidden"},
	http.StatusNotFound:              {"not-found", "Not found"},
	http.StatusMethodNotAllowed:      {"method-not-allowed", "Method not allowed"},
	http.StatusNotAcceptable:         {"not-acceptable", "Not acceptable"},
	http.StatusConflict:              {"conflict", "Not allowed in the job's current state"},
	http.StatusRequestEntityTooLarge: {"body-too-large", "Request body too large"},
	http.StatusUnsupportedMediaType:  {"unsupported-media-type", "Unsupported media type"},
	http.StatusUnprocessableEntity:   {"validation-failed", "Validation failed"},
	http.StatusInternalServerError:   {"internal", "Internal server error"},
	http.StatusServiceUnavailable:    {"unavailable", "Service unavailable"},
}

// kindOf is the kind for a status; an unlisted one is named after it.
func kindOf(status int) kind {
	if k, ok := statusKinds[status]; ok {
		return k
	}
	text := http.StatusText(status)
	if text == "" {
		return kind{"error", "Error"}
	}
	return kind{strings.ToLower(strings.ReplaceAll(text, " ", "-")), text}
}

func (k kind) apply(p *Problem) {
	p.Type, p.Code, p.Title = problemTypePrefix+k.code, k.code, k.title
}

func init() {
	// Every error Huma writes, its own included, is a Problem (the spec's
	// error schema follows). The request id is added on the way out
	// (withRequestID), where the request is known.
	huma.NewError = newProblem
}

func newProblem(status int, msg string, errs ...error) huma.StatusError {
	p := &Problem{Status: status, Detail: msg}
	kindOf(status).apply(p)
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			p.Errors = append(p.Errors, d.ErrorDetail())
		} else {
			p.Errors = append(p.Errors, &huma.ErrorDetail{Message: err.Error()})
		}
	}
	return p
}

// problems is the one table from domain errors to HTTP statuses and kinds
// of problem. The first match wins, so more specific errors come first.
// detail is the problem's detail; by default the error's text without the
// sentinel's own words, which the title already says.
var problems = []struct {
	err    error
	status int
	kind   kind
	detail func(error) string
}{
	{domain.ErrNotFound, http.StatusNotFound, statusKinds[http.StatusNotFound], fixed("job not found")},
	{domain.ErrUnauthenticated, http.StatusUnauthorized, statusKinds[http.StatusUnauthorized], nil},
	{domain.ErrForbidden, http.StatusForbidden, statusKinds[http.StatusForbidden], nil},
	{domain.ErrIdempotencyMismatch, http.StatusUnprocessableEntity, kind{"idempotency-mismatch", "Idempotency key reused"},
		fixed("Idempotency-Key was already used with a different request body")},
	{domain.ErrInvalid, http.StatusUnprocessableEntity, statusKinds[http.StatusUnprocessableEntity], invalidDetail},
	{domain.ErrLeaseLost, http.StatusConflict, kind{"lease-lost", "Lease lost"},
		fixed("the lease is lost: the job was canceled or moved on to another attempt")},
	{domain.ErrLeaseHeld, http.StatusConflict, kind{"lease-held", "Lease held by another worker"},
		fixed("another worker holds a live lease on the job")},
	{domain.ErrConflict, http.StatusConflict, statusKinds[http.StatusConflict], nil},
}

func fixed(msg string) func(error) string { return func(error) string { return msg } }

// invalidDetail names the field and the rule ("address: must be ..."); the
// errors[] entry locates it.
func invalidDetail(err error) string {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return ve.Field + ": " + ve.Rule
	}
	return withoutSentinel(err, domain.ErrInvalid)
}

// withoutSentinel is err's text without sentinel's words, wherever the
// wrapping put them: "job x is completed; only ... can be retried:
// conflict" reads "job x is completed; only ... can be retried".
func withoutSentinel(err, sentinel error) string {
	msg, s := err.Error(), sentinel.Error()
	msg = strings.ReplaceAll(msg, ": "+s+": ", ": ")
	msg = strings.TrimSuffix(msg, ": "+s)
	msg = strings.TrimPrefix(msg, s+": ")
	return msg
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

// problem turns an error from the app into a problem document. Unknown
// errors become a generic 500: the real error is logged with the request
// id, never sent.
func (s *Server) problem(ctx context.Context, err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		return err
	}
	for _, p := range problems {
		if errors.Is(err, p.err) {
			detail := withoutSentinel(err, p.err)
			if p.detail != nil {
				detail = p.detail(err)
			}
			e := huma.NewError(p.status, detail, details(err)...)
			if m, ok := e.(*Problem); ok {
				p.kind.apply(m)
				m.RequestID = RequestID(ctx)
			}
			return e
		}
	}
	if ctx.Err() != nil {
		// The client went away; nobody reads the answer.
		return huma.NewError(http.StatusServiceUnavailable, "request canceled")
	}
	s.log.ErrorContext(ctx, "request failed", "request_id", RequestID(ctx), "err", err)
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
