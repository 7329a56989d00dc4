package llmtest

// Helpers of the providers' FuzzResponse targets: an HTTP transport that
// gives every request one canned answer, and the checks any answer or error
// an adapter makes of a fuzzed body must pass.

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/codecheck/codecheck/ports"
)

// FuzzStatus keeps statuses the client sees as final: 2xx, 4xx and 5xx
// (a 1xx or 3xx is the transport's business); 0 and others become 200.
func FuzzStatus(s uint16) int {
	if code := int(s); code >= 200 && code <= 599 && (code < 300 || code >= 400) {
		return code
	}
	return http.StatusOK
}

// Canned answers every request with status, Retry-After and body, with
// "@K" replaced by the API key.
func Canned(status int, retryAfter string, body []byte) http.RoundTripper {
	body = bytes.ReplaceAll(body, []byte("@K"), []byte(Key))
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			_, _ = io.Copy(io.Discard, req.Body)
			_ = req.Body.Close()
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Request: req,
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// maxMessage bounds a provider error's message: the adapter keeps at most a
// few hundred characters of what the provider said.
const maxMessage = 600

// RequireFuzzError checks what a provider adapter returned for a fuzzed
// answer that it refused: a classified *ports.ProviderError of provider,
// with a short, valid UTF-8 message that never holds the API key.
func RequireFuzzError(t *testing.T, err error, provider string) {
	t.Helper()
	var pe *ports.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("unclassified error %T: %v", err, err)
	}
	if pe.Provider != provider || pe.Message == "" || len(pe.Message) > maxMessage {
		t.Fatalf("provider %q, message of %d bytes: %q", pe.Provider, len(pe.Message), pe.Message)
	}
	if strings.Contains(err.Error(), Key) {
		t.Fatalf("the error leaks the API key: %s", err)
	}
	if !utf8.ValidString(err.Error()) {
		// It becomes the job's error, which Postgres refuses to store.
		t.Fatalf("the error is not valid UTF-8: %q", err)
	}
}

// RequireFuzzAnswer checks an answer an adapter made of a fuzzed body:
// trimmed text (or truncated), grounded exactly when it has sources, each
// with a URL, and a model. With numbered, the adapter numbers the sources
// 1..n, one per URL, and its spans name only those.
func RequireFuzzAnswer(t *testing.T, resp ports.SectionResponse, numbered bool) {
	t.Helper()
	if resp.Content == "" && !resp.Truncated {
		t.Fatal("an answer without text")
	}
	if resp.Content != strings.TrimSpace(resp.Content) {
		t.Fatalf("content not trimmed: %q", resp.Content)
	}
	if resp.Grounded != (len(resp.Sources) > 0) {
		t.Fatalf("grounded %v with %d sources", resp.Grounded, len(resp.Sources))
	}
	urls := map[string]bool{}
	for i, s := range resp.Sources {
		if s.URL == "" {
			t.Fatalf("a source without URL: %+v", s)
		}
		if numbered && (s.ID != i+1 || urls[s.URL]) {
			t.Fatalf("sources not numbered 1..n, one per URL: %+v", resp.Sources)
		}
		urls[s.URL] = true
	}
	for _, sp := range resp.Spans {
		if strings.TrimSpace(sp.Text) == "" || len(sp.SourceIDs) == 0 {
			t.Fatalf("empty span %+v", sp)
		}
		for _, id := range sp.SourceIDs {
			if id < 1 || id > len(resp.Sources) {
				t.Fatalf("span %q names source %d of %d", sp.Text, id, len(resp.Sources))
			}
		}
		if ids := slices.Compact(slices.Sorted(slices.Values(sp.SourceIDs))); len(ids) != len(sp.SourceIDs) {
			t.Fatalf("span %q names a source twice: %v", sp.Text, sp.SourceIDs)
		}
	}
	if resp.Model == "" {
		t.Fatal("an answer without model")
	}
}
