package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// mapResolver answers from a fixed table; unknown hosts do not resolve.
type mapResolver map[string][]string

func (r mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: net.ParseIP(ip)}
	}
	return out, nil
}

func TestValidatorRefusesNonPublicTargets(t *testing.T) {
	resolver := mapResolver{
		"hooks.example.com":    {"93.184.216.34"},
		"internal.example.com": {"10.1.2.3"},
		"mixed.example.com":    {"93.184.216.34", "192.168.1.10"},
		"rebind.example.com":   {"127.0.0.1"},
		"v6.example.com":       {"2606:2800:220:1:248:1893:25c8:1946"},
	}
	validate := NewValidator(false, resolver)
	cases := []struct {
		url  string
		rule string // substring of the rule; "" = accepted
	}{
		{"https://hooks.example.com/codecheck", ""},
		{"https://v6.example.com/x", ""},
		{"https://93.184.216.34/x", ""},
		{"http://hooks.example.com/codecheck", "https scheme"},
		{"ftp://hooks.example.com/", "https scheme"},
		{"https:///nohost", "must have a host"},
		{"https://user:pw@hooks.example.com/", "credentials"},
		{"https://127.0.0.1/hook", "loopback"},
		{"https://127.1.2.3:8443/hook", "loopback"},
		{"https://[::1]/hook", "loopback"},
		{"https://10.0.0.5/hook", "private"},
		{"https://172.16.0.1/hook", "private"},
		{"https://192.168.0.1/hook", "private"},
		{"https://[fd00::1]/hook", "private"},
		{"https://169.254.169.254/latest/meta-data", "link-local"},
		{"https://[fe80::1]/hook", "link-local"},
		{"https://0.0.0.0/hook", "unspecified"},
		{"https://[::]/hook", "unspecified"},
		{"https://224.0.0.1/hook", "multicast"},
		{"https://100.64.0.1/hook", "carrier-grade NAT"},
		{"https://[::ffff:10.0.0.1]/hook", "private"},
		{"https://internal.example.com/hook", "resolves to a private address"},
		{"https://rebind.example.com/hook", "resolves to a loopback address"},
		{"https://mixed.example.com/hook", "resolves to a private address"},
		{"https://nowhere.example.com/hook", "does not resolve"},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			err := validate(context.Background(), tc.url)
			if tc.rule == "" {
				require.NoError(t, err)
				return
			}
			var ve *domain.ValidationError
			require.ErrorAs(t, err, &ve)
			require.ErrorIs(t, err, domain.ErrInvalid)
			require.Equal(t, "webhook_url", ve.Field)
			require.Contains(t, ve.Rule, tc.rule)
		})
	}
}

func TestValidatorAllowPrivateStillRequiresHTTPS(t *testing.T) {
	validate := NewValidator(true, mapResolver{})
	require.NoError(t, validate(context.Background(), "https://127.0.0.1:9999/hook"))
	require.NoError(t, validate(context.Background(), "https://internal.example.com/hook"))
	require.ErrorIs(t, validate(context.Background(), "http://127.0.0.1:9999/hook"), domain.ErrInvalid)
}

func TestHTTPClientRefusesNonPublicAddressAtDialTime(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()

	client := NewHTTPClient(false, time.Second)
	defer client.CloseIdleConnections()
	_, err := client.Get(srv.URL) // 127.0.0.1: as if DNS had rebound to loopback
	require.ErrorIs(t, err, errBlockedDial)
	require.Zero(t, hits.Load())
}

type received struct {
	header http.Header
	body   []byte
}

// hookServer records deliveries; fail makes the first n calls return 503.
func hookServer(t *testing.T, fail int) (*httptest.Server, func() []received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Header.Clone(), body})
		n := len(got)
		mu.Unlock()
		if n <= fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func finishedJob(url string) domain.Job {
	now := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	return domain.Job{ID: "0192f0c1-0000-7000-8000-000000000001", Address: "1 Main St, Springfield, IL",
		Provider: "fake", Status: domain.JobCompleted, Attempt: 1, Sections: domain.SectionKeys(), Done: 13,
		WebhookURL: url, CreatedAt: now, UpdatedAt: now, FinishedAt: &now}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, 5*time.Millisecond)
}

func TestSenderSignsPerStandardWebhooks(t *testing.T) {
	srv, got := hookServer(t, 0)
	key := []byte("a-32-byte-signing-key-for-tests!")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	s, err := New(secret, srv.Client(), Options{Logger: quiet})
	require.NoError(t, err)

	hooks := app.Hooks{JobDone: s.JobDone} // how the composition root wires it
	hooks.JobDone(context.Background(), finishedJob(srv.URL+"/hook"))
	waitFor(t, func() bool { return len(got()) == 1 })
	require.NoError(t, s.Close(context.Background()))

	r := got()[0]
	id, ts := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
	require.NotEmpty(t, id)
	unix, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), time.Unix(unix, 0), time.Minute)

	mac := hmac.New(sha256.New, key) // computed independently of Sign
	mac.Write([]byte(id + "." + ts + "." + string(r.body)))
	require.Equal(t, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)), r.header.Get("webhook-signature"))
	require.Equal(t, "application/json", r.header.Get("Content-Type"))

	var p struct {
		Type string `json:"type"`
		Data struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			Progress string `json:"progress"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(r.body, &p))
	require.Equal(t, "job.completed", p.Type)
	require.Equal(t, "0192f0c1-0000-7000-8000-000000000001", p.Data.ID)
	require.Equal(t, "completed", p.Data.Status)
	require.Equal(t, "13/13", p.Data.Progress)
}

func TestSenderRawSecret(t *testing.T) {
	srv, got := hookServer(t, 0)
	s, err := New("plain-text-secret", srv.Client(), Options{Logger: quiet})
	require.NoError(t, err)
	s.Deliver(finishedJob(srv.URL))
	waitFor(t, func() bool { return len(got()) == 1 })
	require.NoError(t, s.Close(context.Background()))
	r := got()[0]
	want := Sign([]byte("plain-text-secret"), r.header.Get("webhook-id"), r.header.Get("webhook-timestamp"), r.body)
	require.Equal(t, "v1,"+want, r.header.Get("webhook-signature"))
}

func TestSenderRetriesWithTheSameMessageID(t *testing.T) {
	srv, got := hookServer(t, 2)
	s, err := New("secret", srv.Client(), Options{Logger: quiet, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	require.NoError(t, err)
	s.Deliver(finishedJob(srv.URL))
	waitFor(t, func() bool { return len(got()) == 3 })
	require.NoError(t, s.Close(context.Background()))
	calls := got()
	require.Len(t, calls, 3, "no delivery after the first success")
	for _, c := range calls {
		require.Equal(t, calls[0].header.Get("webhook-id"), c.header.Get("webhook-id"))
	}
}

// Flush returns once deliveries, retries included, are done, and gives up
// at its deadline otherwise.
func TestSenderFlushWaitsForRetries(t *testing.T) {
	srv, got := hookServer(t, 2)
	s, err := New("secret", srv.Client(), Options{Logger: quiet, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	require.NoError(t, err)
	s.Deliver(finishedJob(srv.URL))
	require.NoError(t, s.Flush(context.Background()))
	require.Len(t, got(), 3, "two failures, then the delivery")

	slow, _ := hookServer(t, 100)
	s2, err := New("secret", slow.Client(), Options{Logger: quiet, InitialBackoff: time.Hour})
	require.NoError(t, err)
	s2.Deliver(finishedJob(slow.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s2.Flush(ctx), context.DeadlineExceeded)
	require.NoError(t, s.Close(context.Background()))
	require.NoError(t, s2.Close(context.Background()))
}

func TestSenderGivesUpAfterMaxAttempts(t *testing.T) {
	srv, got := hookServer(t, 100)
	s, err := New("secret", srv.Client(), Options{Logger: quiet, MaxAttempts: 3, InitialBackoff: time.Millisecond})
	require.NoError(t, err)
	s.Deliver(finishedJob(srv.URL))
	waitFor(t, func() bool { return len(got()) == 3 })
	require.NoError(t, s.Close(context.Background()))
	require.Len(t, got(), 3)
}

func TestSenderCloseAbandonsPendingRetries(t *testing.T) {
	srv, got := hookServer(t, 100)
	s, err := New("secret", srv.Client(), Options{Logger: quiet, InitialBackoff: time.Hour})
	require.NoError(t, err)
	s.Deliver(finishedJob(srv.URL))
	waitFor(t, func() bool { return len(got()) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx))
	s.Deliver(finishedJob(srv.URL)) // after Close: dropped
	require.Len(t, got(), 1)
}

func TestSenderSkipsJobsWithoutWebhook(t *testing.T) {
	srv, got := hookServer(t, 0)
	s, err := New("secret", srv.Client(), Options{Logger: quiet})
	require.NoError(t, err)
	s.JobDone(context.Background(), finishedJob(""))
	require.NoError(t, s.Close(context.Background()))
	require.Empty(t, got())
}

func TestSenderDefaultClientRefusesLoopback(t *testing.T) {
	srv, got := hookServer(t, 0)
	s, err := New("secret", nil, Options{Logger: quiet, MaxAttempts: 1})
	require.NoError(t, err)
	s.Deliver(finishedJob(srv.URL))
	require.NoError(t, s.Close(context.Background()))
	require.Empty(t, got())
}

func TestNewRefusesBadSecrets(t *testing.T) {
	_, err := New("", nil, Options{Logger: quiet})
	require.ErrorContains(t, err, "CODECHECK_WEBHOOK_SECRET")
	_, err = New("whsec_not base64!", nil, Options{Logger: quiet})
	require.ErrorContains(t, err, "CODECHECK_WEBHOOK_SECRET")
	require.False(t, errors.Is(err, domain.ErrInvalid))
}
