package gemini

import (
	"context"
	"net/http"
)

// genai.APIError carries neither the response headers (Retry-After) nor
// the HTTP status when the error body has no code. recordingTransport wraps the HTTP client's
// transport and, for a request whose context carries an *exchange, records
// them. One exchange per Research call, so concurrent calls never see each
// other's responses.

type exchangeKey struct{}

type exchange struct {
	status int
	header http.Header
}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

type recordingTransport struct {
	next http.RoundTripper
}

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if ex, ok := req.Context().Value(exchangeKey{}).(*exchange); ok {
		ex.status = resp.StatusCode
		ex.header = resp.Header.Clone()
	}
	return resp, nil
}

// recordingClient returns a copy of base (or of a new client) whose
// transport records exchanges.
func recordingClient(base *http.Client) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = recordingTransport{next: next}
	return &c
}
