// Request ids: one per request, in the X-Request-Id response header, every
// problem document and the request's log lines.

package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// RequestIDHeader carries the request id both ways: a client (or a proxy in
// front) may send one, and every response has one.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an incoming request id that is kept.
const maxRequestIDLen = 128

type requestIDKey struct{}

// RequestID is the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives the request an id, the incoming X-Request-Id when it
// is sane (so a proxy's id ties its logs to ours), else a new one, and
// answers with it.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// saneRequestID accepts 1 to 128 characters of letters, digits and
// - _ . : / + = (UUIDs, ULIDs, hex, base64, trace ids), so that what goes
// back in a header and into logs can carry nothing else.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=':
		default:
			return false
		}
	}
	return true
}

// newRequestID is 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// problemRequestID is a Huma transformer: every problem document written
// carries the request's id, whoever made it.
func problemRequestID(ctx huma.Context, _ string, v any) (any, error) {
	if p, ok := v.(*Problem); ok && p.RequestID == "" {
		p.RequestID = RequestID(ctx.Context())
	}
	return v, nil
}

// documentRequestID declares the X-Request-Id header (once, under
// components) on every response of every operation registered so far.
func documentRequestID(api huma.API) {
	spec := api.OpenAPI()
	if spec.Components.Headers == nil {
		spec.Components.Headers = map[string]*huma.Header{}
	}
	spec.Components.Headers[RequestIDHeader] = &huma.Header{Description: "The request's id: the client's X-Request-Id " +
		"when it is 1 to 128 letters, digits or -_.:/+=, else a new one. Problem documents repeat it as request_id; " +
		"the server's logs name it.", Schema: &huma.Schema{Type: huma.TypeString}}
	ref := &huma.Header{Ref: "#/components/headers/" + RequestIDHeader}
	for _, item := range spec.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Options, item.Head, item.Patch, item.Trace} {
			if op == nil {
				continue
			}
			for _, r := range op.Responses {
				if r.Headers == nil {
					r.Headers = map[string]*huma.Param{}
				}
				r.Headers[RequestIDHeader] = ref
			}
		}
	}
}
