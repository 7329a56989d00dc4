// The worker API: the worker's side of the store over HTTP, so that a worker (a Modal container) holds a per-job token instead of database credentials.

package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// workerScheme is the name of the worker token scheme in the spec.
const workerScheme = "workerToken"

// workerAuth is the security requirement of every worker operation.
var workerAuth = []map[string][]string{{workerScheme: {}}}

// WorkerMaxSectionBytes bounds the body of a section save: a section with
// its findings and sources is larger than any other request.
const WorkerMaxSectionBytes = 1 << 20

// maxMessage bounds the free text a worker sends (errors, reasons).
const maxMessage = 16384

// WorkerJob is a job as its worker sees it: what it needs to run and fence
// it, without the client's webhook URL or idempotency key.
type WorkerJob struct {
	ID             string           `json:"id" doc:"Job id." example:"01933b8e-6f3a-7c1e-9a4b-2f6d8e0c1a23"`
	Address        string           `json:"address" doc:"The property address." example:"1600 Pennsylvania Ave NW, Washington, DC 20500"`
	LLMProvider    string           `json:"llm_provider" doc:"LLM provider to research with." example:"perplexity"`
	Status         domain.JobStatus `json:"status" doc:"Lifecycle state; canceled tells the worker to stop."`
	Attempt        int              `json:"attempt" doc:"The current attempt: the fencing token every write carries." example:"1"`
	Sections       []string         `json:"sections" doc:"Section keys to run, in report order."`
	Project        *domain.Project  `json:"project,omitempty" doc:"What will be built, when the client said: part of every section's prompt."`
	MaxCostUSD     *float64         `json:"max_cost_usd,omitempty" doc:"The job's cost cap in US dollars: the worker makes no call whose expected cost would pass it."`
	CostCapped     bool             `json:"cost_capped,omitempty" doc:"The job ended with sections skipped at its cost cap."`
	Done           int              `json:"done" doc:"Sections completed so far." example:"3"`
	Executor       string           `json:"executor,omitempty" doc:"Executor the job was handed to." example:"modal"`
	ExecutorRef    string           `json:"executor_ref,omitempty" doc:"The executor's reference, e.g. a Modal function-call id."`
	Error          string           `json:"error,omitempty" doc:"Why the job failed, when it did."`
	LeaseExpiresAt *time.Time       `json:"lease_expires_at,omitempty" doc:"When the current lease ends without a heartbeat."`
	CreatedAt      time.Time        `json:"created_at" doc:"When the job was submitted."`
	UpdatedAt      time.Time        `json:"updated_at" doc:"When the job last changed."`
	StartedAt      *time.Time       `json:"started_at,omitempty" doc:"When a worker first started it."`
	FinishedAt     *time.Time       `json:"finished_at,omitempty" doc:"When it reached a terminal status."`
	Reuse          bool             `json:"reuse" doc:"Whether the job may reuse jurisdiction-wide sections that another job of its jurisdiction researched (GET /worker/jobs/{id}/reusable/{key}); false: research every section."`
	Verify         bool             `json:"verify,omitempty" doc:"Whether each researched section's findings get a verification pass against their cited sources."`
}

func newWorkerJob(j domain.Job) WorkerJob {
	return WorkerJob{ID: j.ID, Address: j.Address, LLMProvider: j.Provider, Status: j.Status, Attempt: j.Attempt,
		Sections: j.Sections, Project: j.Project, MaxCostUSD: j.MaxCostUSD, CostCapped: j.CostCapped, Done: j.Done, Executor: j.Executor, ExecutorRef: j.ExecutorRef, Error: j.Error,
		LeaseExpiresAt: j.LeaseExpiresAt, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, StartedAt: j.StartedAt,
		FinishedAt: j.FinishedAt, Reuse: j.Reuse, Verify: j.Verify}
}

// WorkerJobOutput is a job as its worker sees it.
type WorkerJobOutput struct {
	Body WorkerJob
}

// ClaimJobInput is POST /worker/jobs/{id}/claim.
type ClaimJobInput struct {
	JobIDInput
	Body ClaimBody
}

// ClaimBody asks for a lease on the job.
type ClaimBody struct {
	Worker   string `json:"worker,omitempty" maxLength:"200" doc:"Names the claimant for logs and diagnostics." example:"modal-7f3a"`
	Executor string `json:"executor,omitempty" maxLength:"64" doc:"Recorded as the job's executor if it has none yet." example:"modal"`
	LeaseMS  int64  `json:"lease_ms" minimum:"1" maximum:"86400000" doc:"How long the claim holds without a heartbeat, in milliseconds." example:"30000"`
}

// HeartbeatInput is POST /worker/jobs/{id}/heartbeat.
type HeartbeatInput struct {
	JobIDInput
	Body HeartbeatBody
}

// HeartbeatBody extends an attempt's lease.
type HeartbeatBody struct {
	Attempt int   `json:"attempt" minimum:"1" doc:"The attempt the worker claimed." example:"1"`
	LeaseMS int64 `json:"lease_ms" minimum:"1" maximum:"86400000" doc:"Extends the lease this long from now, in milliseconds." example:"30000"`
}

// SaveSectionInput is PUT /worker/jobs/{id}/sections/{key}.
type SaveSectionInput struct {
	JobIDInput
	Key  SectionKey `path:"key" doc:"Section key; must match section.key."`
	Body SaveSectionBody
}

// SaveSectionBody is one section result under an attempt's lease, and
// more saved in the same write.
type SaveSectionBody struct {
	Attempt int                    `json:"attempt" minimum:"1" doc:"The attempt the worker claimed." example:"1"`
	Section domain.SectionResult   `json:"section" doc:"The section result, replacing any saved one."`
	More    []domain.SectionResult `json:"more,omitempty" maxItems:"12" doc:"More section results saved in the same write, each with its event after this one's: the sections the worker starts as it saves this one (running), and others that ended at the same moment."`
}

// SectionsOutput is a job's saved section results.
type SectionsOutput struct {
	Body SectionList
}

// SectionList is a job's saved section results.
type SectionList struct {
	Sections []domain.SectionResult `json:"sections" doc:"Saved section results in report order; sections never saved are absent."`
}

// FinishJobInput is POST /worker/jobs/{id}/finish.
type FinishJobInput struct {
	JobIDInput
	Body FinishBody
}

// FinishBody ends an attempt with a terminal status.
type FinishBody struct {
	Attempt int              `json:"attempt" minimum:"1" doc:"The attempt the worker claimed." example:"1"`
	Status  domain.JobStatus `json:"status" doc:"completed or failed."`
	Error   string           `json:"error,omitempty" maxLength:"16384" doc:"Why the job failed." example:"1 of 13 sections failed: zoning_use (provider timed out)"`
}

// ReleaseJobInput is POST /worker/jobs/{id}/release.
type ReleaseJobInput struct {
	JobIDInput
	Body ReleaseBody
}

// ReleaseBody gives an attempt's job back.
type ReleaseBody struct {
	Attempt int    `json:"attempt" minimum:"1" doc:"The attempt the worker claimed." example:"1"`
	Reason  string `json:"reason,omitempty" maxLength:"16384" doc:"Why the worker gives the job back; recorded in the job's events." example:"worker stopping with 4 sections not done"`
}

// ProviderInput names the provider of a budget operation.
type ProviderInput struct {
	JobIDInput
	Provider ProviderName `path:"provider" doc:"The LLM provider whose budget this is."`
}

// TakeCallInput is POST /worker/jobs/{id}/providers/{provider}/calls.
type TakeCallInput struct {
	ProviderInput
	Body TakeCallBody
}

// TakeCallBody asks for one call's slot.
type TakeCallBody struct {
	PerMinute int `json:"per_minute" minimum:"1" maximum:"1000000" doc:"The provider's budget in calls a minute (the worker's CODECHECK_PROVIDER_RPM); a server that has its own budget configured grants at that rate instead." example:"120"`
	Burst     int `json:"burst" minimum:"1" maximum:"1000000" doc:"How many calls may go at once after a quiet spell." example:"13"`
}

// TakeCallOutput is the slot taken.
type TakeCallOutput struct {
	Body struct {
		WaitMS int64 `json:"wait_ms" doc:"How long the worker waits before it makes the call, in milliseconds; 0: now. A worker that waited asks GET .../pause before it calls." example:"0"`
	}
}

// PauseProviderInput is POST /worker/jobs/{id}/providers/{provider}/pause.
type PauseProviderInput struct {
	ProviderInput
	Body PauseProviderBody
}

// PauseProviderBody pauses a provider for every worker.
type PauseProviderBody struct {
	PauseMS int64 `json:"pause_ms" minimum:"1" maximum:"300000" doc:"How long from now, in milliseconds: the provider's Retry-After, at most 5 minutes." example:"3000"`
}

// PausedOutput is how long a provider stays paused.
type PausedOutput struct {
	Body struct {
		PausedMS int64 `json:"paused_ms" doc:"How long the provider stays paused from now, in milliseconds; 0: it is not." example:"0"`
	}
}

// workerErrors are the problems every worker operation may answer with.
var workerErrors = []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
	http.StatusUnprocessableEntity, http.StatusInternalServerError}

// fencedErrors adds the lost lease (problem type ProblemLeaseLost).
var fencedErrors = append([]int{http.StatusConflict}, workerErrors...)

// registerWorker adds the worker operations, the worker token scheme and
// the worker tag. The spec always documents them; a server without worker
// tokens answers them 404.
func (s *Server) registerWorker() {
	oapi := s.api.OpenAPI()
	oapi.Components.SecuritySchemes[workerScheme] = &huma.SecurityScheme{Type: "http", Scheme: "bearer",
		Description: "A worker token: minted for one hand-off of one job (HMAC with CODECHECK_WORKER_SECRET), " +
			"valid for that job's worker operations only, until it expires."}
	oapi.Tags = append(oapi.Tags, &huma.Tag{Name: "worker", Description: "The worker's side of the job store, " +
		"for workers that hold a per-job token instead of database credentials; enabled by " +
		"CODECHECK_WORKER_SECRET (without it these routes answer 404). Every write carries the " +
		"attempt the worker claimed and is refused with 409 (type " + ProblemLeaseLost + ") once the job was " +
		"canceled or moved on to another attempt."})

	workerOp(s, huma.Operation{OperationID: "worker-get-job", Method: http.MethodGet, Path: "/worker/jobs/{id}",
		Summary:     "Read the worker's job",
		Description: "The job as its worker sees it. A status of canceled, or another attempt, tells the worker to stop.",
		Errors:      workerErrors}, s.workerGetJob)
	workerOp(s, huma.Operation{OperationID: "worker-claim-job", Method: http.MethodPost, Path: "/worker/jobs/{id}/claim",
		Summary: "Claim the job",
		Description: "Moves the job to processing with the next attempt and a lease, and returns it. 409 with type " +
			ProblemLeaseHeld + " while another worker's lease is live; 409 when the job already ended.",
		Errors: append([]int{http.StatusConflict}, workerErrors...)}, s.workerClaim)
	workerOp(s, huma.Operation{OperationID: "worker-heartbeat", Method: http.MethodPost, Path: "/worker/jobs/{id}/heartbeat",
		Summary: "Extend the lease", Description: "Extends the attempt's lease from now.",
		DefaultStatus: http.StatusNoContent, Errors: fencedErrors}, s.workerHeartbeat)
	workerOp(s, huma.Operation{OperationID: "worker-list-sections", Method: http.MethodGet, Path: "/worker/jobs/{id}/sections",
		Summary:     "Read the saved sections",
		Description: "The job's saved section results, so that a new attempt does not recompute completed ones.",
		Errors:      workerErrors}, s.workerSections)
	workerOp(s, huma.Operation{OperationID: "worker-save-section", Method: http.MethodPut, Path: "/worker/jobs/{id}/sections/{key}",
		Summary: "Save one section", Description: "Saves (replaces) one section result under the attempt's lease, and the results in `more`, in one write.",
		DefaultStatus: http.StatusNoContent, MaxBodyBytes: WorkerMaxSectionBytes,
		Errors: append([]int{http.StatusRequestEntityTooLarge}, fencedErrors...)}, s.workerSaveSection)
	workerOp(s, huma.Operation{OperationID: "worker-finish-job", Method: http.MethodPost, Path: "/worker/jobs/{id}/finish",
		Summary: "Finish the job", Description: "Ends the job completed or failed under the attempt's lease, and returns it.",
		Errors: fencedErrors}, s.workerFinish)
	workerOp(s, huma.Operation{OperationID: "worker-release-job", Method: http.MethodPost, Path: "/worker/jobs/{id}/release",
		Summary:       "Give the job back",
		Description:   "Returns the job to pending for another attempt, keeping its saved sections.",
		DefaultStatus: http.StatusNoContent, Errors: fencedErrors}, s.workerRelease)
	s.registerProviderBudget()
	s.registerReuse()
}

// registerProviderBudget adds the provider budget operations: the
// per-minute budget and pauses that every process shares, for workers
// that reach the store only through this API. A provider call costs one
// take, a second request (the pause read) when it had to wait for its
// slot, and a provider answer with Retry-After one pause.
func (s *Server) registerProviderBudget() {
	const path = "/worker/jobs/{id}/providers/{provider}"
	notKept := "404 also when this server keeps no provider budget."
	workerOp(s, huma.Operation{OperationID: "worker-take-provider-call", Method: http.MethodPost, Path: path + "/calls",
		Summary: "Take a provider call's slot",
		Description: "Takes one call's slot from the provider's budget, shared by every worker and server on the " +
			"store, and says how long to wait before making the call. The slot is taken whether or not the worker " +
			"waits. " + notKept,
		Errors: workerErrors}, s.workerTakeCall)
	workerOp(s, huma.Operation{OperationID: "worker-provider-pause", Method: http.MethodGet, Path: path + "/pause",
		Summary:     "Read the provider's pause",
		Description: "How long the provider stays paused for every worker. " + notKept,
		Errors:      workerErrors}, s.workerPaused)
	workerOp(s, huma.Operation{OperationID: "worker-pause-provider", Method: http.MethodPost, Path: path + "/pause",
		Summary: "Pause the provider for every worker",
		Description: "Pauses the provider from now, for every worker and server on the store, after it answered " +
			"with a Retry-After; a pause that ends later stands. Answers how long the pause now lasts. " + notKept,
		Errors: workerErrors}, s.workerPause)
}

// workerOp registers one worker operation behind the token check.
func workerOp[I, O any](s *Server, op huma.Operation, handler func(context.Context, *I) (*O, error)) {
	op.Tags, op.Security = []string{"worker"}, workerAuth
	if op.MaxBodyBytes == 0 {
		op.MaxBodyBytes = s.cfg.MaxBodyBytes
	}
	op.Middlewares = huma.Middlewares{s.requireWorkerToken}
	huma.Register(s.api, op, handler)
}

// requireWorkerToken lets the request through only with a worker token for
// the job in the path: 401 when the token is missing, malformed, tampered
// with or expired; 403 when it is another job's. Nothing runs otherwise.
// Without worker tokens the worker API is off and its routes are unknown.
func (s *Server) requireWorkerToken(ctx huma.Context, next func(huma.Context)) {
	if s.cfg.WorkerTokens == nil {
		_ = huma.WriteErr(s.api, ctx, http.StatusNotFound, "no such resource")
		return
	}
	err := fmt.Errorf("a worker token is required: send Authorization: Bearer <token>: %w", domain.ErrUnauthenticated)
	if token, ok := bearerToken(ctx.Header("Authorization")); ok {
		_, err = s.cfg.WorkerTokens.Check(token, ctx.Param("id"))
	}
	if err == nil {
		next(ctx)
		return
	}
	se, _ := s.problem(ctx.Context(), err).(huma.StatusError)
	if se.GetStatus() == http.StatusUnauthorized {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="codecheck-worker", error="invalid_token"`)
	}
	_ = huma.WriteErr(s.api, ctx, se.GetStatus(), se.Error())
}

func (s *Server) workerGetJob(ctx context.Context, in *JobIDInput) (*WorkerJobOutput, error) {
	job, err := s.cfg.WorkerStore.Get(ctx, in.ID)
	return s.workerJob(ctx, job, err)
}

func (s *Server) workerClaim(ctx context.Context, in *ClaimJobInput) (*WorkerJobOutput, error) {
	job, err := s.cfg.WorkerStore.Claim(ctx, ports.ClaimRequest{JobID: in.ID, Worker: in.Body.Worker,
		Executor: in.Body.Executor, Lease: time.Duration(in.Body.LeaseMS) * time.Millisecond})
	return s.workerJob(ctx, job, err)
}

func (s *Server) workerHeartbeat(ctx context.Context, in *HeartbeatInput) (*struct{}, error) {
	err := s.cfg.WorkerStore.Heartbeat(ctx, ports.Lease{JobID: in.ID, Attempt: in.Body.Attempt},
		time.Duration(in.Body.LeaseMS)*time.Millisecond)
	return s.noContent(ctx, err)
}

func (s *Server) workerSections(ctx context.Context, in *JobIDInput) (*SectionsOutput, error) {
	sections, err := s.cfg.WorkerStore.Sections(ctx, in.ID)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &SectionsOutput{}
	out.Body.Sections = sections
	if out.Body.Sections == nil {
		out.Body.Sections = []domain.SectionResult{}
	}
	return out, nil
}

func (s *Server) workerSaveSection(ctx context.Context, in *SaveSectionInput) (*struct{}, error) {
	if in.Body.Section.Key != string(in.Key) {
		return nil, s.problem(ctx, domain.Invalid("section.key", fmt.Sprintf("must be the section in the path, %q", in.Key)))
	}
	err := s.cfg.WorkerStore.SaveSection(ctx, ports.Lease{JobID: in.ID, Attempt: in.Body.Attempt}, in.Body.Section, in.Body.More...)
	return s.noContent(ctx, err)
}

func (s *Server) workerFinish(ctx context.Context, in *FinishJobInput) (*WorkerJobOutput, error) {
	job, err := s.cfg.WorkerStore.Finish(ctx, ports.Lease{JobID: in.ID, Attempt: in.Body.Attempt},
		in.Body.Status, in.Body.Error)
	return s.workerJob(ctx, job, err)
}

func (s *Server) workerRelease(ctx context.Context, in *ReleaseJobInput) (*struct{}, error) {
	err := s.cfg.WorkerStore.Release(ctx, ports.Lease{JobID: in.ID, Attempt: in.Body.Attempt}, in.Body.Reason)
	return s.noContent(ctx, err)
}

// budget is the provider budget the worker API grants from: its worker
// store's, when the store keeps one (the SQL stores do).
func (s *Server) budget() (ports.ProviderBudget, error) {
	b, ok := s.cfg.WorkerStore.(ports.ProviderBudget)
	if !ok {
		return nil, huma.Error404NotFound("this server keeps no provider budget")
	}
	return b, nil
}

func (s *Server) workerTakeCall(ctx context.Context, in *TakeCallInput) (*TakeCallOutput, error) {
	b, err := s.budget()
	if err != nil {
		return nil, err
	}
	rate := ports.Rate{PerMinute: in.Body.PerMinute, Burst: in.Body.Burst}
	if s.cfg.ProviderRate.PerMinute > 0 { // the server's budget, not what a worker asks for
		rate = s.cfg.ProviderRate
	}
	wait, err := b.Acquire(ctx, in.ID, string(in.Provider), rate)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &TakeCallOutput{}
	out.Body.WaitMS = ceilMS(wait)
	return out, nil
}

func (s *Server) workerPaused(ctx context.Context, in *ProviderInput) (*PausedOutput, error) {
	b, err := s.budget()
	if err != nil {
		return nil, err
	}
	return s.pausedFor(ctx, b, in)
}

func (s *Server) workerPause(ctx context.Context, in *PauseProviderInput) (*PausedOutput, error) {
	b, err := s.budget()
	if err != nil {
		return nil, err
	}
	pause := min(time.Duration(in.Body.PauseMS)*time.Millisecond, app.MaxProviderPause)
	if err := b.Pause(ctx, in.ID, string(in.Provider), pause); err != nil {
		return nil, s.problem(ctx, err)
	}
	return s.pausedFor(ctx, b, &in.ProviderInput)
}

func (s *Server) pausedFor(ctx context.Context, b ports.ProviderBudget, in *ProviderInput) (*PausedOutput, error) {
	d, err := b.Paused(ctx, in.ID, string(in.Provider))
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &PausedOutput{}
	out.Body.PausedMS = ceilMS(d)
	return out, nil
}

// ceilMS is d in whole milliseconds, rounded up: a worker never goes early.
func ceilMS(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

func (s *Server) workerJob(ctx context.Context, job domain.Job, err error) (*WorkerJobOutput, error) {
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return &WorkerJobOutput{Body: newWorkerJob(job)}, nil
}

func (s *Server) noContent(ctx context.Context, err error) (*struct{}, error) {
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return nil, nil
}
