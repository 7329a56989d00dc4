package openai

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// go-openai hides the HTTP response behind its errors (no Retry-After) and
// drops fields it does not model (the url_citation annotations of search
// models). recordingDoer sits between go-openai and the http.Client: for a
// request whose context carries an *exchange, it records the response
// headers and, when asked, a copy of a successful body. One exchange per
// Research call, so concurrent calls never see each other's responses.

type exchangeKey struct{}

type exchange struct {
	header      http.Header
	captureBody bool
	body        []byte
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
	ex, ok := req.Context().Value(exchangeKey{}).(*exchange)
	if !ok {
		return resp, nil
	}
	ex.header = resp.Header.Clone()
	if ex.captureBody && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		ex.body = body
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}
