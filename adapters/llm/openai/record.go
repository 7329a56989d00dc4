package openai

import (
	"context"
	"net/http"
)

// go-openai hides the HTTP response behind its errors, so a 429's
// Retry-After is lost. recordingDoer sits between go-openai and the
// http.Client: for a request whose context carries an *exchange, it records
// the response headers. One exchange per Research call, so concurrent calls
// never see each other's responses.

type exchangeKey struct{}

type exchange struct {
	header http.Header
}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

type recordingDoer struct {
	client *http.Client
}

func (d recordingDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(req)
	if err != nil {
		return resp, err
	}
	if ex, ok := req.Context().Value(exchangeKey{}).(*exchange); ok {
		ex.header = resp.Header.Clone()
	}
	return resp, nil
}
