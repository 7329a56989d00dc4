package domain

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is a job with every one of its section results, in report order.
type Report struct {
	Job      Job             `json:"job"`
	Sections []SectionResult `json:"sections"`
	Usage    Usage           `json:"usage"`
	// ResearchedAt is when the research finished: the job's finished_at
	// once it ended, else the latest finished_at of its sections; nil
	// before any section finished.
	ResearchedAt *time.Time `json:"researched_at,omitempty"`
}

// NewReport assembles the report of job from the saved results. Sections the
// job asked for that have no saved result yet appear as pending.
func NewReport(job Job, saved []SectionResult) Report {
	byKey := make(map[string]SectionResult, len(saved))
	for _, s := range saved {
		byKey[s.Key] = s
	}
	r := Report{Job: job, Sections: make([]SectionResult, 0, len(job.Sections))}
	for _, key := range job.Sections {
		s, ok := byKey[key]
		if !ok {
			spec, _ := LookupSection(key)
			s = NewSectionResult(spec)
		}
		r.Usage = r.Usage.Add(s.Usage)
		r.Sections = append(r.Sections, s)
	}
	r.ResearchedAt = researchedAt(job, r.Sections)
	return r
}

// researchedAt is the job's finished_at when it ended, else the latest
// finished_at of its sections (a report read while the job runs).
func researchedAt(job Job, sections []SectionResult) *time.Time {
	if job.Status.Terminal() && job.FinishedAt != nil {
		return job.FinishedAt
	}
	var latest *time.Time
	for _, s := range sections {
		if s.FinishedAt != nil && (latest == nil || s.FinishedAt.After(*latest)) {
			latest = s.FinishedAt
		}
	}
	return latest
}

// WriteMarkdown renders the report as Markdown.
func (r Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	j := r.Job
	fmt.Fprintf(&b, "# Building code report: %s\n\n", j.Address)
	fmt.Fprintf(&b, "- Job: `%s`\n- Status: %s (%s sections)\n- Provider: %s\n", j.ID, j.Status, j.Progress(), j.Provider)
	writeProjectMarkdown(&b, j.Project)
	if r.ResearchedAt != nil {
		fmt.Fprintf(&b, "- Researched: %s\n", r.ResearchedAt.UTC().Format(time.RFC3339))
	}
	if j.Error != "" {
		fmt.Fprintf(&b, "- Error: %s\n", j.Error)
	}
	fmt.Fprintf(&b, "- Tokens: %d in, %d out", r.Usage.InputTokens, r.Usage.OutputTokens)
	if r.Usage.CostUSD != nil {
		fmt.Fprintf(&b, "; cost $%.4f", *r.Usage.CostUSD)
	}
	b.WriteString("\n")
	for _, s := range r.Sections {
		writeSectionMarkdown(&b, s)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeProjectMarkdown adds the project's lines to the report header.
func writeProjectMarkdown(b *strings.Builder, p *Project) {
	if p == nil {
		return
	}
	if sum := p.Summary(); sum != "" {
		fmt.Fprintf(b, "- Project: %s\n", mdText(sum))
	}
	if p.Description != "" {
		fmt.Fprintf(b, "- Project description: %s\n", mdText(p.Description))
	}
}

// mdText keeps client text from making Markdown structure (links, code,
// emphasis, HTML) in a list item. Underscores stay: inside words, as in
// tenant_improvement, they do not make emphasis.
func mdText(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "\\`", "*", "\\*", "[", "\\[", "]", "\\]").Replace(s)
}

func writeSectionMarkdown(b *strings.Builder, s SectionResult) {
	fmt.Fprintf(b, "\n## %d. %s\n\n", s.Ordinal, s.Title)
	if s.Status != SectionCompleted {
		fmt.Fprintf(b, "_Status: %s_", s.Status)
		if s.Error != "" {
			fmt.Fprintf(b, " — %s", s.Error)
		}
		b.WriteString("\n")
		return
	}
	fmt.Fprintf(b, "%s\n\n", s.Summary)
	fmt.Fprintf(b, "_Outcome: %s · confidence: %s", s.Outcome, s.Confidence)
	if s.ConfidenceReason != "" {
		fmt.Fprintf(b, " (%s)", s.ConfidenceReason)
	}
	grounded := "not grounded in web sources"
	if s.Grounded {
		grounded = "grounded in web sources"
	}
	fmt.Fprintf(b, " · %s · %s/%s · %d+%d tokens", grounded, s.Provider, s.Model, s.Usage.InputTokens, s.Usage.OutputTokens)
	if s.Usage.CostUSD != nil {
		fmt.Fprintf(b, " · $%.4f", *s.Usage.CostUSD)
	}
	b.WriteString("_\n")
	if s.NeedsVerification {
		with := s.VerifyWith
		if with == "" {
			with = "the local building department"
		}
		fmt.Fprintf(b, "\n> **Verify** with %s before relying on this section.\n", with)
	}
	if len(s.Findings) > 0 {
		b.WriteString("\n| Item | Value | Code reference | Sources |\n|---|---|---|---|\n")
		for _, f := range s.Findings {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", mdCell(f.Label), mdCell(f.Value), mdCell(f.CodeReference), sourceRefs(f.SourceIDs))
		}
	}
	if len(s.Sources) > 0 {
		b.WriteString("\nSources:\n\n")
		for _, src := range s.Sources {
			title := src.Title
			if title == "" {
				title = src.URL
			}
			official := ""
			if src.Official {
				official = " (official)"
			}
			fmt.Fprintf(b, "%d. [%s](%s)%s\n", src.ID, mdCell(title), src.URL, official)
		}
	}
}

func sourceRefs(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("[%d]", id)
	}
	return strings.Join(parts, " ")
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
