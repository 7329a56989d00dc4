package domain

import "time"

// SectionStatus is the state of one section of a job.
type SectionStatus string

const (
	SectionPending   SectionStatus = "pending"
	SectionRunning   SectionStatus = "running"
	SectionCompleted SectionStatus = "completed"
	SectionFailed    SectionStatus = "failed"
	// SectionCanceled: the job was canceled before the section finished.
	// Only the store sets it, when the cancel lands; a retry runs the
	// section again.
	SectionCanceled SectionStatus = "canceled"
	// SectionSkipped: the job's cost cap was reached before the section
	// was researched (Error says so); a retry with a higher cap runs it.
	SectionSkipped SectionStatus = "skipped"
)

// SectionStatuses lists every section status.
var SectionStatuses = []SectionStatus{SectionPending, SectionRunning, SectionCompleted, SectionFailed, SectionCanceled, SectionSkipped}

// Finished reports whether no worker will change a section in this status
// within the current attempt.
func (s SectionStatus) Finished() bool {
	return s == SectionCompleted || s == SectionFailed || s == SectionCanceled || s == SectionSkipped
}

// CostCapReached is the error of a section skipped because the job's cost
// cap was reached.
const CostCapReached = "cost cap reached"

// EssentialSections are the sections without which a report is not worth
// having: a job whose cost cap skipped one of them fails; one that skipped
// only others completes, flagged cost_capped.
var EssentialSections = []string{JurisdictionKey, "adopted_codes", "zoning_use"}

// Outcome says what the research found for a section.
type Outcome string

const (
	OutcomeFound         Outcome = "found"
	OutcomeNotCodified   Outcome = "not_codified"
	OutcomeNotApplicable Outcome = "not_applicable"
	OutcomeNotFound      Outcome = "not_found"
)

// Outcomes lists the valid outcomes.
var Outcomes = []Outcome{OutcomeFound, OutcomeNotCodified, OutcomeNotApplicable, OutcomeNotFound}

// Confidence is how sure the research is of a section.
type Confidence string

const (
	ConfidenceHigh   Confidence = "high"
	ConfidenceMedium Confidence = "medium"
	ConfidenceLow    Confidence = "low"
)

// Confidences lists the valid confidence levels.
var Confidences = []Confidence{ConfidenceHigh, ConfidenceMedium, ConfidenceLow}

// Finding is one fact of a section, pointing at the sources that support it.
// Supported is true only when it cites at least one of the section's sources
// and, where the provider gave snippets or grounding spans for them, its
// quote is found in one.
type Finding struct {
	Label         string `json:"label"`
	Value         string `json:"value"`
	CodeReference string `json:"code_reference,omitempty"`
	SourceIDs     []int  `json:"source_ids,omitempty"`
	// Quote is a short verbatim extract of a cited source.
	Quote     string `json:"quote,omitempty"`
	Supported bool   `json:"supported"`
	// CodeEdition and EffectiveDate are set on findings of the code
	// sections (see IsCodeSection) when the research found them, e.g.
	// "2022 California Building Code" and "2023-01-01".
	CodeEdition   string `json:"code_edition,omitempty"`
	EffectiveDate string `json:"effective_date,omitempty"`
	// Verdict is the verification pass's judgement (see ApplyVerdicts),
	// empty when the finding was not verified. A contradicted finding
	// carries the contradicting text and the id of its source.
	Verdict         Verdict `json:"verdict,omitempty"`
	VerdictQuote    string  `json:"verdict_quote,omitempty"`
	VerdictSourceID int     `json:"verdict_source_id,omitempty"`
	VerdictNote     string  `json:"verdict_note,omitempty"`
}

// Source is one cited web page, numbered within its section. Published and
// LastUpdated are the dates as the provider gives them (e.g. "2026-10-01"),
// empty when it gives none.
type Source struct {
	ID          int    `json:"id"`
	URL         string `json:"url"`
	Title       string `json:"title,omitempty"`
	Snippet     string `json:"snippet,omitempty"`
	Published   string `json:"published,omitempty"`
	LastUpdated string `json:"last_updated,omitempty"`
	Official    bool   `json:"official"`
}

// codeSections are the sections whose findings are code requirements, so
// they carry a code edition and its effective date.
var codeSections = map[string]bool{
	"adopted_codes": true, "occupancy_construction": true, "fire_life_safety": true,
	"accessibility": true, "energy_code": true,
}

// IsCodeSection reports whether the section key's findings carry a code
// edition and effective date.
func IsCodeSection(key string) bool { return codeSections[key] }

// Usage is the token use, the web searches and the cost of producing a
// section. The cost is the provider's own figure where it reports one
// (Perplexity), else computed from the price table; nil when neither is
// known.
type Usage struct {
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	// SearchCalls are the web searches the provider reports it ran.
	SearchCalls int64    `json:"search_calls,omitempty"`
	CostUSD     *float64 `json:"cost_usd,omitempty"`
}

// Add returns the sum of u and o. Cost is known only when both are known or
// one side has no tokens at all.
func (u Usage) Add(o Usage) Usage {
	sum := Usage{InputTokens: u.InputTokens + o.InputTokens, OutputTokens: u.OutputTokens + o.OutputTokens,
		SearchCalls: u.SearchCalls + o.SearchCalls}
	switch {
	case u.CostUSD != nil && o.CostUSD != nil:
		c := *u.CostUSD + *o.CostUSD
		sum.CostUSD = &c
	case u.CostUSD != nil:
		c := *u.CostUSD
		sum.CostUSD = &c
	case o.CostUSD != nil:
		c := *o.CostUSD
		sum.CostUSD = &c
	}
	return sum
}

// SectionResult is a section of a job's report and its state.
type SectionResult struct {
	Key               string        `json:"key"`
	Title             string        `json:"title"`
	Ordinal           int           `json:"ordinal"`
	Status            SectionStatus `json:"status"`
	Summary           string        `json:"summary,omitempty"`
	Findings          []Finding     `json:"findings,omitempty"`
	Sources           []Source      `json:"sources,omitempty"`
	Outcome           Outcome       `json:"outcome,omitempty"`
	Confidence        Confidence    `json:"confidence,omitempty"`
	ConfidenceReason  string        `json:"confidence_reason,omitempty"`
	NeedsVerification bool          `json:"needs_verification"`
	VerifyWith        string        `json:"verify_with,omitempty"`
	Grounded          bool          `json:"grounded"`
	Provider          string        `json:"provider,omitempty"`
	Model             string        `json:"model,omitempty"`
	Usage             Usage         `json:"usage"`
	LatencyMS         int64         `json:"latency_ms"`
	Attempts          int           `json:"attempts"`
	Error             string        `json:"error,omitempty"`
	// ReusedFrom is the job whose research this section reuses (see
	// CheckReuse), and LastVerified when that research was done; both are
	// empty on a section researched for this job.
	ReusedFrom   string     `json:"reused_from,omitempty"`
	LastVerified *time.Time `json:"last_verified,omitempty"`
	// VerifiedAt is when the verification pass gave the findings their
	// verdicts (jobs with verify on); VerificationError why it could not,
	// when it gave up.
	VerifiedAt        *time.Time `json:"verified_at,omitempty"`
	VerificationError string     `json:"verification_error,omitempty"`
	// Jurisdiction is set on the jurisdiction section only.
	Jurisdiction *Jurisdiction `json:"jurisdiction,omitempty"`
	StartedAt    *time.Time    `json:"started_at,omitempty"`
	FinishedAt   *time.Time    `json:"finished_at,omitempty"`
}

// NewSectionResult returns a pending result for spec.
func NewSectionResult(spec SectionSpec) SectionResult {
	return SectionResult{Key: spec.Key, Title: spec.Title, Ordinal: spec.Ordinal, Status: SectionPending}
}

// StartSection is spec's result as it starts running at the given time by
// provider and model, after prev, its saved result if any: what earlier
// attempts spent on the section stays counted, in its usage and cost, in
// the calls it took, and so in the job's cap.
func StartSection(spec SectionSpec, prev SectionResult, provider, model string, at time.Time) SectionResult {
	res := NewSectionResult(spec)
	res.Status = SectionRunning
	res.Provider, res.Model = provider, model
	res.Usage, res.Attempts = prev.Usage, prev.Attempts
	at = at.UTC()
	res.StartedAt = &at
	return res
}
