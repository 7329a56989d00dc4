package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// problemRoutes makes the mux's own answers for unknown paths (404) and
// wrong methods (405) problem documents like every other error.
func (s *Server) problemRoutes(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		w = &problemWriter{ResponseWriter: w, requestID: RequestID(r.Context())}
	}
	s.mux.ServeHTTP(w, r)
}

// problemWriter replaces the plain-text body of an http.Error with a
// problem document for the same status. It keeps the other headers (Allow).
type problemWriter struct {
	http.ResponseWriter
	requestID string
	replaced  bool
}

func (p *problemWriter) WriteHeader(status int) {
	if status < 400 {
		p.ResponseWriter.WriteHeader(status)
		return
	}
	p.replaced = true
	h := p.Header()
	h.Del("X-Content-Type-Options")
	h.Set("Content-Type", "application/problem+json")
	h.Del("Content-Length")
	p.ResponseWriter.WriteHeader(status)
	detail := "no such resource"
	if status == http.StatusMethodNotAllowed {
		detail = "method not allowed on this resource"
	}
	problem := huma.NewError(status, detail)
	if m, ok := problem.(*Problem); ok {
		m.RequestID = p.requestID
	}
	_ = json.NewEncoder(p.ResponseWriter).Encode(problem)
}

func (p *problemWriter) Write(b []byte) (int, error) {
	if p.replaced {
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}

func (p *problemWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
