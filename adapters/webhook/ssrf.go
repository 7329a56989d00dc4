package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// MaxURLLength bounds a webhook URL.
const MaxURLLength = 2048

// Resolver looks host names up; *net.Resolver implements it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// blockedPrefixes are ranges that netip's predicates do not cover but that
// must never be reachable from a webhook: CGNAT, "this network", IETF
// protocol assignments, benchmarking, documentation, reserved, NAT64 and
// the discard prefix.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// blockReason says why ip must not be a webhook target, or "" when it is a
// public address.
func blockReason(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "an invalid address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			if p.Bits() == 10 && ip.Is4() {
				return "a carrier-grade NAT (shared) address"
			}
			return "a reserved or non-public address"
		}
	}
	return ""
}

// NewValidator returns a check for app.ServiceConfig.ValidateWebhook: the URL
// must be https with a host and no credentials, and, unless allowPrivate,
// every address its host resolves to must be public (not loopback, private,
// link-local, unspecified, multicast, CGNAT or reserved). Failures are
// *domain.ValidationError on field "webhook_url". A nil resolver uses
// net.DefaultResolver.
func NewValidator(allowPrivate bool, resolver Resolver) func(ctx context.Context, rawURL string) error {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	return func(ctx context.Context, rawURL string) error {
		u, err := parseWebhookURL(rawURL)
		if err != nil {
			return err
		}
		if allowPrivate {
			return nil
		}
		return checkHost(ctx, resolver, u.Hostname())
	}
}

func invalid(rule string) error { return &domain.ValidationError{Field: "webhook_url", Rule: rule} }

func parseWebhookURL(rawURL string) (*url.URL, error) {
	if len(rawURL) > MaxURLLength {
		return nil, invalid(fmt.Sprintf("must be at most %d characters", MaxURLLength))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, invalid("must be a valid absolute URL")
	}
	switch {
	case u.Scheme != "https":
		return nil, invalid("must use the https scheme")
	case u.Hostname() == "":
		return nil, invalid("must have a host")
	case u.User != nil:
		return nil, invalid("must not contain credentials")
	}
	return u, nil
}

func checkHost(ctx context.Context, resolver Resolver, host string) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := blockReason(ip); why != "" {
			return invalid(fmt.Sprintf("must not point to %s (%s)", why, ip.Unmap()))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := resolver.LookupIPAddr(ctx, host)
	if err != nil || len(addrs) == 0 {
		return invalid(fmt.Sprintf("host %q does not resolve", host))
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return invalid(fmt.Sprintf("host %q resolves to an invalid address", host))
		}
		if why := blockReason(ip); why != "" {
			return invalid(fmt.Sprintf("host %q resolves to %s (%s)", host, why, ip.Unmap()))
		}
	}
	return nil
}

// errBlockedDial is returned when a connection would reach a non-public
// address: DNS may have changed between validation and delivery.
var errBlockedDial = errors.New("webhook: refusing to connect to a non-public address")

// dialControl re-checks the address actually being dialled, after DNS
// resolution, so a host that rebinds to a private address is refused.
func dialControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errBlockedDial, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s", errBlockedDial, address)
	}
	if why := blockReason(ip); why != "" {
		return fmt.Errorf("%w: %s is %s", errBlockedDial, ip.Unmap(), why)
	}
	return nil
}

// NewHTTPClient returns the client webhooks are delivered with: no proxy
// (the dialled address must be the target), no redirects (a redirect could
// point anywhere), a timeout per request, and unless allowPrivate a dial-time
// check that refuses non-public addresses.
func NewHTTPClient(allowPrivate bool, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = dialControl
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
