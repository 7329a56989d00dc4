// The worker API's reuse lookup: a section another job of the same jurisdiction researched.

package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// ReusableInput is GET /worker/jobs/{id}/reusable/{key}.
type ReusableInput struct {
	JobIDInput
	Key       SectionKey `path:"key" doc:"The jurisdiction-wide section wanted."`
	Model     string     `query:"model" maxLength:"200" required:"true" doc:"The model the worker would research the section with; only research made with it counts." example:"perplexity/sonar"`
	NotBefore time.Time  `query:"not_before" required:"true" doc:"Only research done at or after this time counts (the worker's CODECHECK_REUSE_TTL ago)." example:"2026-11-01T00:00:00Z"`
}

// ReusableOutput is the section to reuse.
type ReusableOutput struct {
	Body ReusableSection
}

// ReusableSection is a section another job saved that the worker's job may
// reuse.
type ReusableSection struct {
	JobID   string               `json:"job_id" doc:"The job that saved the section." example:"01933b8e-6f3a-7c1e-9a4b-2f6d8e0c1a23"`
	Section domain.SectionResult `json:"section" doc:"The section as that job saved it."`
}

// registerReuse adds the reuse lookup to the worker API.
func (s *Server) registerReuse() {
	workerOp(s, huma.Operation{OperationID: "worker-reusable-section", Method: http.MethodGet,
		Path:    "/worker/jobs/{id}/reusable/{key}",
		Summary: "Find a section to reuse",
		Description: "The most recent section with this key that another job of the same jurisdiction (the one the " +
			"job's own saved jurisdiction section found), provider and project saved, researched with the model at or after " +
			"not_before, and fit to reuse: completed, grounded in sources with every finding supported, never " +
			"simulated into real research. 404 when there is none, or the job's jurisdiction is not known yet.",
		Errors: workerErrors}, s.workerReusable)
}

func (s *Server) workerReusable(ctx context.Context, in *ReusableInput) (*ReusableOutput, error) {
	found, err := s.cfg.WorkerStore.ReusableSection(ctx, ports.ReuseQuery{JobID: in.ID, Key: string(in.Key),
		Model: in.Model, NotBefore: in.NotBefore})
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return &ReusableOutput{Body: ReusableSection{JobID: found.JobID, Section: found.Section}}, nil
}
