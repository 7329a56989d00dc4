package httpapi

import (
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// JobSummary is a job as listed: everything but the per-section details.
type JobSummary struct {
	ID            string           `json:"id" doc:"Job id (UUIDv7)." example:"01933b8e-6f3a-7c1e-9a4b-2f6d8e0c1a23"`
	Address       string           `json:"address" doc:"The property address, trimmed." example:"1600 Pennsylvania Ave NW, Washington, DC 20500"`
	LLMProvider   string           `json:"llm_provider" doc:"LLM provider researching the job." example:"perplexity"`
	Status        domain.JobStatus `json:"status" doc:"Lifecycle state: pending -> processing -> completed | failed | canceled."`
	Progress      string           `json:"progress" doc:"Finished sections over requested sections." example:"3/13"`
	Error         string           `json:"error,omitempty" doc:"Why the job failed, when it did." example:"sections failed: zoning_use"`
	Attempt       int              `json:"attempt" doc:"How many times a worker has claimed the job." example:"1"`
	Executor      string           `json:"executor,omitempty" doc:"Executor the job was handed to." example:"local"`
	ExecutorRef   string           `json:"executor_ref,omitempty" doc:"The executor's reference, e.g. a Modal function-call id."`
	DispatchError string           `json:"dispatch_error,omitempty" doc:"Why the last hand-off to the executor failed; the job stays pending and is retried."`
	WebhookURL    string           `json:"webhook_url,omitempty" doc:"URL notified when the job ends."`
	Project       *ProjectBody     `json:"project,omitempty" doc:"What will be built, when the client said."`
	Reuse         bool             `json:"reuse" doc:"Whether the job may reuse jurisdiction-wide sections from a recent job of the same jurisdiction, provider and model (those sections show reused_from and last_verified); false: every section is researched for it."`
	Verify        bool             `json:"verify" doc:"Whether each section's findings get a verification pass against their cited sources."`
	Researched    string           `json:"researched,omitempty" doc:"With verify on: finished sections over requested sections (the same as progress)." example:"13/13"`
	Verified      string           `json:"verified,omitempty" doc:"With verify on: sections whose findings were verified (verified_at) over requested sections." example:"9/13"`
	MaxCostUSD    *float64         `json:"max_cost_usd,omitempty" doc:"The job's cost cap in US dollars, when it has one." example:"0.5"`
	CostCapped    bool             `json:"cost_capped,omitempty" doc:"True when the job ended with sections skipped because the cost cap was reached; a retry with a higher max_cost_usd runs them."`
	CreatedAt     time.Time        `json:"created_at" doc:"When the job was submitted."`
	UpdatedAt     time.Time        `json:"updated_at" doc:"When the job last changed."`
	StartedAt     *time.Time       `json:"started_at,omitempty" doc:"When a worker first started it."`
	FinishedAt    *time.Time       `json:"finished_at,omitempty" doc:"When it reached a terminal status."`
}

// SectionState is the status of one requested section.
type SectionState struct {
	Key    SectionKey           `json:"key" doc:"Section key."`
	Title  string               `json:"title" doc:"Section title." example:"Zoning district and permitted use"`
	Status domain.SectionStatus `json:"status" doc:"Section state."`
	Error  string               `json:"error,omitempty" doc:"Why the section failed."`
}

// JobView is a job with its per-section status list and usage totals.
type JobView struct {
	JobSummary
	Sections []SectionState `json:"sections" doc:"Requested sections in report order."`
	Usage    domain.Usage   `json:"usage" doc:"Token use and cost summed over the sections."`
}

// ReportView is the full report: the job and every section result with its
// findings and sources.
type ReportView struct {
	Job          JobView                `json:"job"`
	Sections     []domain.SectionResult `json:"sections" doc:"Every requested section, in report order; unfinished ones are pending."`
	Usage        domain.Usage           `json:"usage" doc:"Token use and cost summed over the sections."`
	ResearchedAt *time.Time             `json:"researched_at,omitempty" doc:"When the research finished: the job's finished_at once it ended, else the latest finished_at of its sections; absent before any section finished."`
	Summary      domain.Summary         `json:"summary" doc:"What the report leads with, derived from the sections: key facts (value 'not found' when no finding gave it), red flags naming their section, the offices to contact, and whether any section is simulated."`
}

// ProjectBody is what will be built at the address. Every field is
// optional; the same rules hold for the CLI (domain.NormalizeProject).
type ProjectBody struct {
	Use           string    `json:"use,omitempty" maxLength:"200" doc:"Intended use or occupancy. Trimmed; no control characters." example:"single-family dwelling"`
	Scope         ScopeName `json:"scope,omitempty" doc:"Kind of work." example:"adu"`
	Stories       int       `json:"stories,omitempty" minimum:"1" maximum:"200" doc:"Stories above grade." example:"1"`
	FloorAreaSqFt int       `json:"floor_area_sqft,omitempty" minimum:"1" maximum:"10000000" doc:"Floor area in square feet." example:"800"`
	Description   string    `json:"description,omitempty" maxLength:"2000" doc:"Free-text description of the work. Trimmed; no control characters (no line breaks)." example:"Detached ADU in the rear yard"`
}

// domain converts the body to the domain's project; nil for nil.
func (p *ProjectBody) domain() *domain.Project {
	if p == nil {
		return nil
	}
	return &domain.Project{Use: p.Use, Scope: domain.Scope(p.Scope), Stories: positive(p.Stories),
		FloorAreaSqFt: positive(p.FloorAreaSqFt), Description: p.Description}
}

// positive is &n, or nil for 0 (the field was absent; the schema refuses
// an explicit 0).
func positive(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func newProjectBody(p *domain.Project) *ProjectBody {
	if p == nil {
		return nil
	}
	return &ProjectBody{Use: p.Use, Scope: ScopeName(p.Scope), Stories: deref(p.Stories),
		FloorAreaSqFt: deref(p.FloorAreaSqFt), Description: p.Description}
}

func deref(n *int) int {
	if n == nil {
		return 0
	}
	return *n
}

// JobList is one page of jobs, newest first.
type JobList struct {
	Jobs       []JobSummary `json:"jobs"`
	NextCursor string       `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page."`
}

// JobEvent is the data of a "job" server-sent event.
type JobEvent struct {
	JobID    string           `json:"job_id"`
	Status   domain.JobStatus `json:"status"`
	Progress string           `json:"progress" example:"3/13"`
	Attempt  int              `json:"attempt"`
	Error    string           `json:"error,omitempty"`
	// VerifiedProgress is the job's verified count.
	VerifiedProgress string    `json:"verified_progress,omitempty" doc:"With verify on: sections verified over requested sections." example:"9/13"`
	At               time.Time `json:"at"`
}

// SectionEvent is the data of a "section" server-sent event: a section
// started (running) or ended (completed, failed, or canceled with its job).
type SectionEvent struct {
	JobID    string               `json:"job_id"`
	Key      SectionKey           `json:"key"`
	Status   domain.SectionStatus `json:"status" doc:"running when the section started; completed, failed or canceled when it ended."`
	Progress string               `json:"progress" doc:"Job progress after this section." example:"4/13"`
	Attempt  int                  `json:"attempt"`
	Error    string               `json:"error,omitempty"`
	Verified bool                 `json:"verified,omitempty" doc:"True when this event records the section's verification (verify on): its findings got their verdicts."`
	// VerifiedProgress is the job's verified count after the event.
	VerifiedProgress string    `json:"verified_progress,omitempty" doc:"With verify on: sections verified over requested sections after this event." example:"9/13"`
	At               time.Time `json:"at"`
}

func newJobSummary(j domain.Job) JobSummary {
	v := JobSummary{ID: j.ID, Address: j.Address, LLMProvider: j.Provider, Status: j.Status,
		Progress: j.Progress(), Error: j.Error, Attempt: j.Attempt, Executor: j.Executor,
		ExecutorRef: j.ExecutorRef, DispatchError: j.DispatchError, WebhookURL: j.WebhookURL,
		Project: newProjectBody(j.Project), MaxCostUSD: j.MaxCostUSD, CostCapped: j.CostCapped, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		Reuse: j.Reuse, Verify: j.Verify}
	if j.Verify {
		v.Researched, v.Verified = j.Progress(), j.VerifiedProgress()
	}
	return v
}

func newJobView(r domain.Report) JobView {
	v := JobView{JobSummary: newJobSummary(r.Job), Sections: make([]SectionState, len(r.Sections)), Usage: r.Usage}
	for i, s := range r.Sections {
		v.Sections[i] = SectionState{Key: SectionKey(s.Key), Title: s.Title, Status: s.Status, Error: s.Error}
	}
	return v
}

func newReportView(r domain.Report) ReportView {
	return ReportView{Job: newJobView(r), Sections: r.Sections, Usage: r.Usage, ResearchedAt: r.ResearchedAt, Summary: r.Summary()}
}

func newJobList(p ports.JobPage) JobList {
	l := JobList{Jobs: make([]JobSummary, len(p.Jobs)), NextCursor: p.NextCursor}
	for i, j := range p.Jobs {
		l.Jobs[i] = newJobSummary(j)
	}
	return l
}

// eventData converts a stored event to the data of its SSE message.
func eventData(e domain.Event) any {
	if e.Type == domain.EventSection {
		return SectionEvent{JobID: e.JobID, Key: SectionKey(e.Section), Status: domain.SectionStatus(e.Status),
			Progress: e.Progress, Attempt: e.Attempt, Error: e.Error, Verified: e.Verified, VerifiedProgress: e.VerifiedProgress, At: e.At}
	}
	return JobEvent{JobID: e.JobID, Status: domain.JobStatus(e.Status), Progress: e.Progress,
		Attempt: e.Attempt, Error: e.Error, VerifiedProgress: e.VerifiedProgress, At: e.At}
}

// Enumerations: their values come from the domain, so the spec follows the
// code.

// SectionKey is one of the 13 section keys.
type SectionKey string

// Schema lists the keys in report order.
func (SectionKey) Schema(huma.Registry) *huma.Schema {
	return enumSchema(domain.SectionKeys())
}

// ProviderName is an LLM provider codecheck knows.
type ProviderName string

// Schema lists the known providers.
func (ProviderName) Schema(huma.Registry) *huma.Schema {
	names := make([]string, len(app.KnownProviders))
	for i, p := range app.KnownProviders {
		names[i] = p.Name
	}
	return enumSchema(names)
}

// ScopeName is one of the project scopes.
type ScopeName string

// Schema lists the scopes.
func (ScopeName) Schema(huma.Registry) *huma.Schema { return enumSchema(domain.Scopes) }

type jobStatusSchema string

func (jobStatusSchema) Schema(huma.Registry) *huma.Schema { return enumSchema(domain.JobStatuses) }

type sectionStatusSchema string

func (sectionStatusSchema) Schema(huma.Registry) *huma.Schema {
	return enumSchema(domain.SectionStatuses)
}

type outcomeSchema string

func (outcomeSchema) Schema(huma.Registry) *huma.Schema { return enumSchema(domain.Outcomes) }

type confidenceSchema string

func (confidenceSchema) Schema(huma.Registry) *huma.Schema { return enumSchema(domain.Confidences) }

func enumSchema[T ~string](values []T) *huma.Schema {
	enum := make([]any, len(values))
	for i, v := range values {
		enum[i] = string(v)
	}
	return &huma.Schema{Type: huma.TypeString, Enum: enum}
}

// registerEnums makes the schemas of the domain's string types list their
// values.
func registerEnums(r huma.Registry) {
	r.RegisterTypeAlias(reflect.TypeFor[domain.JobStatus](), reflect.TypeFor[jobStatusSchema]())
	r.RegisterTypeAlias(reflect.TypeFor[domain.SectionStatus](), reflect.TypeFor[sectionStatusSchema]())
	r.RegisterTypeAlias(reflect.TypeFor[domain.Outcome](), reflect.TypeFor[outcomeSchema]())
	r.RegisterTypeAlias(reflect.TypeFor[domain.Confidence](), reflect.TypeFor[confidenceSchema]())
}
