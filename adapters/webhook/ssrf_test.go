package webhook

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

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
