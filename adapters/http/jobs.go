package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// SubmitJobBody is the body of POST /jobs.
type SubmitJobBody struct {
	Address     string       `json:"address" minLength:"5" maxLength:"300" doc:"Street address of the property, with city and state. Trimmed; no control characters." example:"1600 Pennsylvania Ave NW, Washington, DC 20500"`
	LLMProvider ProviderName `json:"llm_provider,omitempty" doc:"LLM provider to research with; default: the server's default provider. A provider the server has no credentials for is refused with 422 naming the variable to set."`
	Sections    []SectionKey `json:"sections,omitempty" maxItems:"13" doc:"Sections to research; default all 13. jurisdiction is always included."`
	WebhookURL  string       `json:"webhook_url,omitempty" maxLength:"2048" format:"uri" doc:"https URL that receives the job, signed per Standard Webhooks, when it ends. Must resolve to a public address." example:"https://example.com/hooks/codecheck"`
	Project     *ProjectBody `json:"project,omitempty" doc:"What will be built: every section's research answers for it. Covered by Idempotency-Key."`
	Reuse       *bool        `json:"reuse,omitempty" doc:"Whether the job may take its jurisdiction-wide sections (adopted_codes, fire_life_safety, accessibility, energy_code, permitting_process) from a recent job of the same jurisdiction, provider and model instead of researching them; such sections carry reused_from and last_verified and cost nothing. false forces fresh research. Default: the server's CODECHECK_REUSE (on). Covered by Idempotency-Key." example:"true"`
	Verify      *bool        `json:"verify,omitempty" doc:"Whether a second provider call per section checks each finding against the sources it cites: every finding gets a verdict (verified, contradicted with the contradicting quote, unverifiable), the section verified_at, and its confidence follows the verdicts. Default: the server's CODECHECK_VERIFY (off). Covered by Idempotency-Key." example:"true"`
	MaxCostUSD  *float64     `json:"max_cost_usd,omitempty" exclusiveMinimum:"0" maximum:"10000" doc:"Cost cap in US dollars: no provider call is made whose expected cost would pass it; the sections left end skipped. Default: the server's CODECHECK_MAX_COST_USD, if set." example:"0.5"`
}

// RetryJobBody is the optional body of POST /jobs/{id}/retry.
type RetryJobBody struct {
	MaxCostUSD *float64 `json:"max_cost_usd,omitempty" exclusiveMinimum:"0" maximum:"10000" doc:"A new cost cap in US dollars for the job; without it the job keeps its cap." example:"2"`
}

// RetryJobInput is POST /jobs/{id}/retry.
type RetryJobInput struct {
	JobIDInput
	Body *RetryJobBody
}

// SubmitJobInput is POST /jobs.
type SubmitJobInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes the submission safe to retry: the same key with the same body returns the same job; with a different body, 422." example:"7b0f3c1e-retry-safe-key"`
	Body           SubmitJobBody
}

// SubmitJobOutput is the 202 answer to POST /jobs.
type SubmitJobOutput struct {
	Location string `header:"Location" doc:"Where to poll the job." example:"/jobs/01933b8e-6f3a-7c1e-9a4b-2f6d8e0c1a23"`
	// Replayed is "true" on a replay, absent otherwise.
	Replayed string `header:"Idempotent-Replayed" enum:"true" doc:"Present, and true, when this answer replays the job an earlier request with the same Idempotency-Key and body created: no new job was made. Absent otherwise." example:"true"`
	Body     JobView
}

// JobIDInput names a job.
type JobIDInput struct {
	ID string `path:"id" maxLength:"64" doc:"Job id." example:"01933b8e-6f3a-7c1e-9a4b-2f6d8e0c1a23"`
}

// JobOutput is a job.
type JobOutput struct {
	Body JobView
}

// ListJobsInput is GET /jobs.
type ListJobsInput struct {
	Status domain.JobStatus `query:"status" doc:"Only jobs in this status."`
	Limit  int              `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size."`
	Cursor string           `query:"cursor" maxLength:"512" doc:"next_cursor from the previous page."`
}

// ListJobsOutput is a page of jobs.
type ListJobsOutput struct {
	Body JobList
}

// GetReportInput is GET /jobs/{id}/report.
type GetReportInput struct {
	JobIDInput
	Accept string `header:"Accept" doc:"application/json (default) or text/markdown." example:"text/markdown"`
}

// GetReportOutput is the report as JSON or Markdown.
type GetReportOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

var jobErrors = []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusInternalServerError}

func (s *Server) registerJobs() {
	huma.Register(s.api, huma.Operation{
		OperationID: "submit-job", Method: http.MethodPost, Path: "/jobs", Tags: []string{"jobs"},
		Summary:       "Submit a job",
		Description:   "Creates a pending research job for one address and returns at once; the research runs in the background.",
		DefaultStatus: http.StatusAccepted, MaxBodyBytes: s.cfg.MaxBodyBytes, Security: bearerAuth,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge,
			http.StatusUnprocessableEntity, http.StatusInternalServerError},
	}, s.submitJob)

	huma.Register(s.api, huma.Operation{
		OperationID: "list-jobs", Method: http.MethodGet, Path: "/jobs", Tags: []string{"jobs"},
		Summary: "List jobs", Description: "Jobs newest first, optionally by status, in pages.",
		Security: bearerAuth, Errors: []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusInternalServerError},
	}, s.listJobs)

	huma.Register(s.api, huma.Operation{
		OperationID: "get-job", Method: http.MethodGet, Path: "/jobs/{id}", Tags: []string{"jobs"},
		Summary: "Get a job", Description: "The job's status, progress (\"3/13\"), per-section status, error, times and usage.",
		Security: bearerAuth, Errors: jobErrors,
	}, s.getJob)

	huma.Register(s.api, s.reportOperation(), s.getReport)

	huma.Register(s.api, huma.Operation{
		OperationID: "cancel-job", Method: http.MethodPost, Path: "/jobs/{id}/cancel", Tags: []string{"jobs"},
		Summary: "Cancel a job", Description: "Cancels a pending or processing job at once: its unfinished sections become " +
			"`canceled` (completed and failed ones stay), and a worker still running it can save nothing more. " +
			"409 when the job already ended.",
		Security: bearerAuth, Errors: append([]int{http.StatusConflict}, jobErrors...),
	}, s.cancelJob)

	huma.Register(s.api, huma.Operation{
		OperationID: "retry-job", Method: http.MethodPost, Path: "/jobs/{id}/retry", Tags: []string{"jobs"},
		Summary: "Retry a failed or canceled job",
		Description: "Puts a failed or canceled job, or a completed one whose cost cap skipped sections (`cost_capped`), back to pending; " +
			"completed sections are kept and only the others (failed, canceled, skipped, never run) run again. " +
			"An optional body sets a new `max_cost_usd`. 409 unless the job failed, was canceled or was cut short by its cap.",
		DefaultStatus: http.StatusAccepted, Security: bearerAuth, Errors: append([]int{http.StatusConflict}, jobErrors...),
	}, s.retryJob)
}

func (s *Server) submitJob(ctx context.Context, in *SubmitJobInput) (*SubmitJobOutput, error) {
	sections := make([]string, len(in.Body.Sections))
	for i, k := range in.Body.Sections {
		sections[i] = string(k)
	}
	job, existed, err := s.svc.Submit(ctx, app.SubmitRequest{Address: in.Body.Address,
		Provider: string(in.Body.LLMProvider), Sections: sections, WebhookURL: in.Body.WebhookURL,
		Project: in.Body.Project.domain(), MaxCostUSD: in.Body.MaxCostUSD, IdempotencyKey: in.IdempotencyKey,
		Reuse: in.Body.Reuse, Verify: in.Body.Verify})
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	report, replayed := domain.NewReport(job, nil), ""
	if existed {
		// A replay answers with the job as it is now.
		if report, err = s.svc.Get(ctx, job.ID); err != nil {
			return nil, s.problem(ctx, err)
		}
		replayed = "true"
	} else if s.cfg.Metrics != nil {
		s.cfg.Metrics.JobSubmitted(job.Provider)
	}
	return &SubmitJobOutput{Location: "/jobs/" + job.ID, Replayed: replayed, Body: newJobView(report)}, nil
}

func (s *Server) listJobs(ctx context.Context, in *ListJobsInput) (*ListJobsOutput, error) {
	page, err := s.svc.List(ctx, ports.ListFilter{Status: in.Status, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return &ListJobsOutput{Body: newJobList(page)}, nil
}

func (s *Server) getJob(ctx context.Context, in *JobIDInput) (*JobOutput, error) {
	report, err := s.svc.Get(ctx, in.ID)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return &JobOutput{Body: newJobView(report)}, nil
}

const (
	contentJSON     = "application/json"
	contentMarkdown = "text/markdown"
)

func (s *Server) reportOperation() huma.Operation {
	reportSchema := s.api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[ReportView](), true, "ReportView")
	return huma.Operation{
		OperationID: "get-report", Method: http.MethodGet, Path: "/jobs/{id}/report", Tags: []string{"jobs"},
		Summary:     "Get a job's report",
		Description: "The job and every section result with its findings and sources, as JSON, or as Markdown with `Accept: text/markdown`. Available while the job runs: unfinished sections are pending.",
		Security:    bearerAuth, Errors: jobErrors,
		Responses: map[string]*huma.Response{"200": {
			Description: "The report.",
			Content: map[string]*huma.MediaType{
				contentJSON:     {Schema: reportSchema},
				contentMarkdown: {Schema: &huma.Schema{Type: huma.TypeString, Description: "The report rendered as Markdown."}},
			},
		}},
	}
}

func (s *Server) getReport(ctx context.Context, in *GetReportInput) (*GetReportOutput, error) {
	report, err := s.svc.Get(ctx, in.ID)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	var buf bytes.Buffer
	if prefersMarkdown(in.Accept) {
		if err := report.WriteMarkdown(&buf); err != nil {
			return nil, s.problem(ctx, err)
		}
		return &GetReportOutput{ContentType: contentMarkdown + "; charset=utf-8", Body: buf.Bytes()}, nil
	}
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(newReportView(report)); err != nil {
		return nil, s.problem(ctx, err)
	}
	return &GetReportOutput{ContentType: contentJSON, Body: buf.Bytes()}, nil
}

func (s *Server) cancelJob(ctx context.Context, in *JobIDInput) (*JobOutput, error) {
	if _, err := s.svc.Cancel(ctx, in.ID); err != nil {
		return nil, s.problem(ctx, err)
	}
	return s.getJob(ctx, in)
}

func (s *Server) retryJob(ctx context.Context, in *RetryJobInput) (*JobOutput, error) {
	var opts domain.RetryOptions
	if in.Body != nil {
		opts.MaxCostUSD = in.Body.MaxCostUSD
	}
	if _, err := s.svc.Retry(ctx, in.ID, opts); err != nil {
		return nil, s.problem(ctx, err)
	}
	return s.getJob(ctx, &in.JobIDInput)
}

// prefersMarkdown reports whether the Accept header ranks text/markdown above
// application/json; ties and an empty header give JSON.
func prefersMarkdown(accept string) bool {
	return quality(accept, "text/markdown") > quality(accept, contentJSON)
}

// quality is the q-value accept gives mediaType, from its most specific
// matching range (type/subtype over type/* over */*), or 0.
func quality(accept, mediaType string) float64 {
	typ, _, _ := strings.Cut(mediaType, "/")
	q, specificity := 0.0, -1
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		var s int
		switch {
		case mt == mediaType:
			s = 2
		case mt == typ+"/*":
			s = 1
		case mt == "*/*":
			s = 0
		default:
			continue
		}
		if s <= specificity {
			continue
		}
		specificity, q = s, 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
	}
	return q
}
