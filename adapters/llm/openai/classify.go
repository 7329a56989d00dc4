package openai

// This file classifies failures at the adapter edge. The perplexity and gemini
// adapters carry the same rules in their own classify.go: adapters may not
// import each other, and the rules are short.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/codecheck/codecheck/ports"
)

// maxDetail caps how much of a provider's own message we keep.
const maxDetail = 240

// classifier turns HTTP statuses and transport errors into
// *ports.ProviderError. It knows the key only to scrub it from messages.
type classifier struct {
	provider string
	keyEnv   string
	modelEnv string
	key      string
	model    string
}

// status classifies an HTTP error status. detail is the provider's message
// (already extracted from its envelope, may be empty).
func (c classifier) status(status int, retryAfter time.Duration, detail string, err error) *ports.ProviderError {
	pe := &ports.ProviderError{Provider: c.provider, StatusCode: status, Err: err}
	detail = cmp.Or(c.clean(detail), http.StatusText(status))
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		pe.EnvVar = c.keyEnv
		pe.Message = withDetail("authentication failed: check the API key", detail)
	case status == http.StatusNotFound:
		pe.EnvVar = c.modelEnv
		pe.Message = withDetail(fmt.Sprintf("model %q or endpoint not found", c.model), detail)
	case status == http.StatusTooManyRequests:
		pe.Retryable, pe.RetryAfter = true, retryAfter
		pe.Message = withDetail("rate limited", detail)
	case status == http.StatusRequestTimeout || status >= 500:
		pe.Retryable, pe.RetryAfter = true, retryAfter
		pe.Message = withDetail("server error", detail)
	default:
		pe.Message = withDetail("request rejected", detail)
	}
	return pe
}

// transport classifies a failure to get a response at all. parent is the
// caller's context; timeout the per-request limit that was applied.
func (c classifier) transport(parent context.Context, timeout time.Duration, err error) *ports.ProviderError {
	pe := &ports.ProviderError{Provider: c.provider, Err: err}
	var netErr net.Error
	switch {
	case parent.Err() != nil:
		// The caller gave up (job canceled or timed out): not ours to retry.
		pe.Err = errors.Join(parent.Err(), err)
		pe.Message = "request canceled: " + parent.Err().Error()
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		pe.Retryable = true
		pe.Message = fmt.Sprintf("request timed out after %s", timeout)
	default:
		pe.Retryable = true
		pe.Message = "connection failed: " + c.clean(err.Error())
	}
	return pe
}

// malformed classifies a 2xx body that could not be decoded. A garbled body
// is most often a proxy or connection fault, so it is retryable.
// Only the decoder's reason is shown, never the body.
func (c classifier) malformed(err error) *ports.ProviderError {
	reason := "undecodable JSON"
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		reason = syntaxErr.Error()
	case errors.As(err, &typeErr):
		reason = typeErr.Error()
	case errors.Is(err, io.ErrUnexpectedEOF):
		reason = "unexpected end of body"
	}
	return &ports.ProviderError{Provider: c.provider, Retryable: true, Err: err,
		Message: "malformed response body: " + c.clean(reason)}
}

// clean makes a provider-supplied string safe to show: no key, no HTML page,
// one line, bounded length.
func (c classifier) clean(s string) string {
	if c.key != "" {
		s = strings.ReplaceAll(s, c.key, "[redacted]")
	}
	s = strings.Join(strings.Fields(s), " ")
	if l := strings.ToLower(s); strings.Contains(l, "<html") || strings.Contains(l, "<!doctype") {
		return "" // an error page from a proxy says nothing the status does not
	}
	if len(s) > maxDetail {
		s = s[:maxDetail] + "..."
	}
	return s
}

func withDetail(msg, detail string) string {
	if detail == "" {
		return msg
	}
	return msg + ": " + detail
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date.
// It returns 0 when the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now).Round(time.Second)
	}
	return 0
}
