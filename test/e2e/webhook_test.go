package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hookCall is one request a webhook receiver got.
type hookCall struct {
	header http.Header
	body   []byte
}

// hookReceiver is an https endpoint that answers 503 with Retry-After to
// its first request and 204 after, and records every request.
type hookReceiver struct {
	*httptest.Server
	certFile string // its certificate, for SSL_CERT_FILE of the binary
	mu       sync.Mutex
	calls    []hookCall
}

func newHookReceiver(t *testing.T, retryAfter string) *hookReceiver {
	t.Helper()
	h := &hookReceiver{}
	h.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.calls = append(h.calls, hookCall{r.Header.Clone(), body})
		first := len(h.calls) == 1
		h.mu.Unlock()
		if first {
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	h.certFile = filepath.Join(t.TempDir(), "receiver.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Certificate().Raw})
	require.NoError(t, os.WriteFile(h.certFile, cert, 0o600))
	return h
}

func (h *hookReceiver) got() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.calls...)
}

// A webhook outlives the server: the receiver fails the first attempt, the
// server is killed (SIGKILL) while the delivery waits for its retry, and
// the server started again on the same database makes the delivery, with
// the same webhook-id and a valid signature.
func TestWebhookDeliveredAfterServerKilledDuringRetryWait(t *testing.T) {
	for _, db := range stores {
		t.Run(db.name, func(t *testing.T) {
			key := []byte("an-e2e-webhook-signing-key-32-by")
			rc := newHookReceiver(t, "2") // the retry waits at least 2s: time to kill
			env := serveEnv(t, db.url(t), "CODECHECK_FAKE_LLM_LATENCY=1ms",
				"CODECHECK_WEBHOOK_SECRET=whsec_"+base64.StdEncoding.EncodeToString(key),
				"CODECHECK_WEBHOOK_ALLOW_PRIVATE=1", "SSL_CERT_FILE="+rc.certFile)

			first := launchServe(t, "127.0.0.1", env)
			resp, body := apiCall(t, http.MethodPost, first.base+"/jobs",
				`{"address":"`+testAddress+`","llm_provider":"fake","webhook_url":"`+rc.URL+`/hook"}`, nil)
			require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
			var job apiJob
			require.NoError(t, json.Unmarshal(body, &job))

			// The failure is logged once the store holds its retry time.
			waitFor(t, "the first attempt to fail and its retry to be recorded", time.Minute, func() bool {
				return strings.Contains(first.output.String(), "webhook delivery failed, will retry")
			})
			require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
			<-first.exited
			require.Len(t, rc.got(), 1, "killed before the retry")

			second := launchServe(t, "127.0.0.1", env)
			waitFor(t, "the delivery by the restarted server", time.Minute, func() bool { return len(rc.got()) == 2 })
			calls := rc.got()
			require.Equal(t, "msg_"+job.ID+"_1_completed", calls[0].header.Get("webhook-id"))
			require.Equal(t, calls[0].header.Get("webhook-id"), calls[1].header.Get("webhook-id"), "the same message")
			requireWebhookSignature(t, key, calls[1])
			var p struct {
				Type string `json:"type"`
				Data apiJob `json:"data"`
			}
			require.NoError(t, json.Unmarshal(calls[1].body, &p), string(calls[1].body))
			require.Equal(t, "job.completed", p.Type)
			require.Equal(t, job.ID, p.Data.ID)
			require.Equal(t, "13/13", p.Data.Progress)

			require.Equal(t, 0, second.terminate(30*time.Second))
			require.Len(t, rc.got(), 2, "delivered once it succeeded")
		})
	}
}

// requireWebhookSignature checks a request's Standard Webhooks signature
// under key.
func requireWebhookSignature(t *testing.T, key []byte, c hookCall) {
	t.Helper()
	id, ts := c.header.Get("webhook-id"), c.header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(c.body)))
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), c.header.Get("webhook-signature"))
}
