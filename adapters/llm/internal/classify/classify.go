// Package classify turns provider failures into classified
// *ports.ProviderError values at the adapter edge: HTTP statuses, transport
// errors and unreadable bodies (with Retry-After), with messages scrubbed of
// the API key; and the settings check every adapter makes at construction.
// The perplexity, openai and gemini adapters share it.
package classify

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
	"unicode/utf8"

	"github.com/codecheck/codecheck/ports"
)

// maxDetail caps how much of a provider's own message we keep.
const maxDetail = 240

// Classifier turns HTTP statuses and transport errors into
// *ports.ProviderError. It knows the key only to scrub it from messages.
type Classifier struct {
	Provider string
	KeyEnv   string
	ModelEnv string
	Key      string
	Model    string
}

// Status classifies an HTTP error status. detail is the provider's message
// (already extracted from its envelope, may be empty).
func (c Classifier) Status(status int, retryAfter time.Duration, detail string, err error) *ports.ProviderError {
	pe := &ports.ProviderError{Provider: c.Provider, StatusCode: status, Err: err}
	detail = cmp.Or(c.Clean(detail), http.StatusText(status))
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		pe.EnvVar = c.KeyEnv
		pe.Message = WithDetail("authentication failed: check the API key", detail)
	case status == http.StatusNotFound:
		pe.EnvVar = c.ModelEnv
		pe.Message = WithDetail(fmt.Sprintf("model %q or endpoint not found", c.Model), detail)
	case status == http.StatusTooManyRequests:
		pe.Retryable, pe.RetryAfter = true, retryAfter
		pe.Message = WithDetail("rate limited", detail)
	case status == http.StatusRequestTimeout || status >= 500:
		pe.Retryable, pe.RetryAfter = true, retryAfter
		pe.Message = WithDetail("server error", detail)
	default:
		pe.Message = WithDetail("request rejected", detail)
	}
	return pe
}

// Transport classifies a failure to get a response at all. parent is the
// caller's context; timeout the per-request limit that was applied.
func (c Classifier) Transport(parent context.Context, timeout time.Duration, err error) *ports.ProviderError {
	pe := &ports.ProviderError{Provider: c.Provider, Err: err}
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
		pe.Message = "connection failed: " + c.Clean(err.Error())
	}
	return pe
}

// Malformed classifies a 2xx body that could not be decoded. A garbled body
// is most often a proxy or connection fault, so it is retryable.
// Only the decoder's reason is shown, never the body.
func (c Classifier) Malformed(err error) *ports.ProviderError {
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
	return &ports.ProviderError{Provider: c.Provider, Retryable: true, Err: err,
		Message: "malformed response body: " + c.Clean(reason)}
}

// Clean makes a provider-supplied string safe to show: no key, no HTML page,
// one line, bounded length.
func (c Classifier) Clean(s string) string {
	if c.Key != "" {
		s = strings.ReplaceAll(s, c.Key, "[redacted]")
	}
	// Valid UTF-8 only: the message ends up in text columns (a proxy's error
	// page may be in Latin-1).
	s = strings.ToValidUTF8(strings.Join(strings.Fields(s), " "), "\uFFFD")
	if l := strings.ToLower(s); strings.Contains(l, "<html") || strings.Contains(l, "<!doctype") {
		return "" // an error page from a proxy says nothing the status does not
	}
	if len(s) > maxDetail {
		cut := maxDetail
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // never split a character
		}
		s = s[:cut] + "..."
	}
	return s
}

func WithDetail(msg, detail string) string {
	if detail == "" {
		return msg
	}
	return msg + ": " + detail
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date.
// It returns 0 when the header is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
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
