package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The in-process transport answers as soon as the handler sends its
// headers, streams what it writes, and cancels the request when the client
// closes the body (goleak in TestMain checks the handler is gone).
func TestInProcessTransportStreamsAndCancels(t *testing.T) {
	handlerDone := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		require.Equal(t, "Bearer k", r.Header.Get("Authorization"))
		require.Equal(t, "/jobs/j/events?x=1", r.RequestURI)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusTeapot)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "event %d\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			if i > 0 {
				<-r.Context().Done()
				return
			}
		}
	})
	client := &http.Client{Transport: inProcessTransport{h}}
	req, err := http.NewRequest(http.MethodGet, localBase+"/jobs/j/events?x=1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := client.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusTeapot, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	lines := bufio.NewReader(resp.Body)
	for _, want := range []string{"event 0\n", "event 1\n"} {
		got, err := lines.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	require.NoError(t, resp.Body.Close())
	<-handlerDone
}

// A handler that writes nothing answers 200 with an empty body.
func TestInProcessTransportEmptyAnswer(t *testing.T) {
	client := &http.Client{Transport: inProcessTransport{http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}}
	resp, err := client.Post(localBase+"/x", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Empty(t, body)
}
