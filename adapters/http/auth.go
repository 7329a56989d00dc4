package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// securityScheme is the name of the bearer scheme in the spec.
const securityScheme = "bearer"

// bearerAuth is the security requirement of every /jobs operation.
var bearerAuth = []map[string][]string{{securityScheme: {}}}

// hashKeys keeps only digests of the API keys: comparing fixed-length
// digests in constant time hides the keys' lengths as well as their bytes.
func hashKeys(keys []string) [][32]byte {
	out := make([][32]byte, 0, len(keys))
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, sha256.Sum256([]byte(k)))
		}
	}
	return out
}

// authorized reports whether header carries one of the keys. It compares
// against every key, without stopping at a match.
func authorized(keys [][32]byte, header string) bool {
	token, ok := bearerToken(header)
	if !ok {
		return false
	}
	presented := sha256.Sum256([]byte(token))
	match := 0
	for i := range keys {
		match |= subtle.ConstantTimeCompare(presented[:], keys[i][:])
	}
	return match == 1
}

// bearerToken returns the credential of an "Authorization: Bearer <token>"
// header.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// needsAPIKey reports whether op declares the API key's security
// requirement. Worker operations declare the worker token's instead.
func needsAPIKey(op *huma.Operation) bool {
	for _, req := range op.Security {
		if _, ok := req[securityScheme]; ok {
			return true
		}
	}
	return false
}

// authenticate is API middleware: operations that declare the bearer
// security requirement need a valid key when keys are configured. Health,
// metrics and the spec declare none and stay open; the worker operations
// check their own token.
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	if len(s.keys) == 0 || !needsAPIKey(ctx.Operation()) || authorized(s.keys, ctx.Header("Authorization")) {
		next(ctx)
		return
	}
	ctx.SetHeader("WWW-Authenticate", `Bearer realm="codecheck"`)
	_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized,
		"a valid API key is required: send Authorization: Bearer <key>")
}

// CheckListenSecurity refuses to serve without API keys on an address other
// machines can reach, unless insecure (CODECHECK_INSECURE_NO_AUTH=1) says
// that is intended. addr is a listen address such as "127.0.0.1:8080" or
// ":8080" (all interfaces, so not loopback).
func CheckListenSecurity(addr string, keys []string, insecure bool) error {
	if len(hashKeys(keys)) > 0 || insecure {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("CODECHECK_ADDR %q: %w", addr, err)
	}
	if isLoopback(host) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without API keys: set CODECHECK_API_KEYS, "+
		"listen on a loopback address (e.g. 127.0.0.1:8080), or set CODECHECK_INSECURE_NO_AUTH=1", addr)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
