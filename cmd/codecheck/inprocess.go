package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
)

// inProcessTransport answers requests with an http.Handler in this
// process. The job commands (list, watch, cancel, retry, report, and check's
// JSON) use it to speak to the API served over the local store exactly as
// they speak to a remote server: one client, and the same documents.
type inProcessTransport struct{ handler http.Handler }

// RoundTrip runs the handler in its own goroutine and returns the answer as
// soon as the handler sends its headers, so event streams flow. Closing
// the answer's body cancels the request.
func (t inProcessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	in := req.Clone(ctx)
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI, in.RemoteAddr = req.URL.RequestURI(), "in-process"
	pr, pw := io.Pipe()
	w := &pipeResponse{header: http.Header{}, body: pw, sent: make(chan struct{})}
	go func() {
		defer func() {
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing
			pw.Close()
		}()
		t.handler.ServeHTTP(w, in)
	}()
	select {
	case <-w.sent:
	case <-ctx.Done():
		pr.CloseWithError(ctx.Err())
		cancel()
		return nil, ctx.Err()
	}
	return &http.Response{StatusCode: w.status, Status: http.StatusText(w.status), Header: w.sentHeader,
		Body: &cancelingBody{PipeReader: pr, cancel: cancel}, Request: req, ContentLength: -1,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// pipeResponse is the handler's side: headers once, then the body through
// a pipe to the client.
type pipeResponse struct {
	header     http.Header
	body       *io.PipeWriter
	once       sync.Once
	status     int
	sentHeader http.Header
	sent       chan struct{}
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(status int) {
	w.once.Do(func() {
		w.status, w.sentHeader = status, w.header.Clone()
		close(w.sent)
	})
}

func (w *pipeResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Flush is a no-op: every Write reaches the reader before it returns.
func (w *pipeResponse) Flush() {}

// cancelingBody cancels the request when the client closes the body.
type cancelingBody struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (b *cancelingBody) Close() error {
	b.cancel()
	return b.PipeReader.CloseWithError(errClientClosed)
}

var errClientClosed = errors.New("the client closed the answer")
