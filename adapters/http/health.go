package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// HealthOutput is the answer of /healthz and /readyz.
type HealthOutput struct {
	Body struct {
		Status  string `json:"status" enum:"ok" doc:"Always ok when the server answers."`
		Version string `json:"version,omitempty" doc:"The server's build version." example:"v1.0.0"`
	}
}

// openAccess is the security requirement of operations open to everyone,
// even with API keys configured: none, said explicitly.
var openAccess = []map[string][]string{}

// readyTimeout bounds the store check of /readyz.
const readyTimeout = 3 * time.Second

func (s *Server) registerHealth() {
	huma.Register(s.api, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"ops"},
		Summary: "Liveness", Description: "200 while the process serves requests.", Security: openAccess,
	}, func(context.Context, *struct{}) (*HealthOutput, error) { return s.health(), nil })

	huma.Register(s.api, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"ops"},
		Summary: "Readiness", Description: "200 when the job store is reachable, 503 otherwise.",
		Errors: []int{http.StatusServiceUnavailable}, Security: openAccess,
	}, s.ready)
}

func (s *Server) health() *HealthOutput {
	out := &HealthOutput{}
	out.Body.Status = "ok"
	out.Body.Version = s.cfg.Version
	return out
}

func (s *Server) ready(ctx context.Context, _ *struct{}) (*HealthOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.svc.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness check failed", "err", err)
		return nil, huma.Error503ServiceUnavailable("the job store is unavailable")
	}
	return s.health(), nil
}
