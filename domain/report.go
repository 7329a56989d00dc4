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
// job asked for that have no saved result yet appear as pending. A canceled
// job's unfinished sections appear canceled, even where the store has them
// otherwise (a job canceled before the store closed its sections).
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
		if job.Status == JobCanceled && !s.Status.Finished() {
			s.Status = SectionCanceled
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
	fmt.Fprintf(&b, "# Building code report: %s\n\n", mdText(j.Address))
	fmt.Fprintf(&b, "- Job: `%s`\n- Status: %s (%s sections)\n- Provider: %s\n", j.ID, j.Status, j.Progress(), j.Provider)
	if j.Verify {
		fmt.Fprintf(&b, "- Verified: %s sections\n", j.VerifiedProgress())
	}
	writeProjectMarkdown(&b, j.Project)
	if r.ResearchedAt != nil {
		fmt.Fprintf(&b, "- Researched: %s\n", r.ResearchedAt.UTC().Format(time.RFC3339))
	}
	if j.Error != "" {
		fmt.Fprintf(&b, "- Error: %s\n", mdText(j.Error))
	}
	fmt.Fprintf(&b, "- Tokens: %d in, %d out", r.Usage.InputTokens, r.Usage.OutputTokens)
	if r.Usage.CostUSD != nil {
		fmt.Fprintf(&b, "; cost $%.4f", *r.Usage.CostUSD)
	}
	b.WriteString("\n")
	writeSummaryMarkdown(&b, r.Summary(), r.Sections)
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

// mdProse is mdText for a section's summary: a "]" is escaped only where it
// would close a link, image or reference ("](", "][", "]:"), so the
// "[SIMULATED]" a simulated summary starts with stays readable.
func mdProse(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "\\`", "*", "\\*",
		"](", "\\](", "][", "\\][", "]:", "\\]:").Replace(s)
}

func writeSectionMarkdown(b *strings.Builder, s SectionResult) {
	fmt.Fprintf(b, "\n## %d. %s\n\n", s.Ordinal, mdText(s.Title))
	if s.Status != SectionCompleted {
		fmt.Fprintf(b, "_Status: %s_", s.Status)
		if s.Error != "" {
			fmt.Fprintf(b, " — %s", mdText(s.Error))
		}
		b.WriteString("\n")
		return
	}
	fmt.Fprintf(b, "%s\n\n", mdProse(s.Summary))
	fmt.Fprintf(b, "_Outcome: %s · confidence: %s", s.Outcome, s.Confidence)
	if s.ConfidenceReason != "" {
		fmt.Fprintf(b, " (%s)", mdText(s.ConfidenceReason))
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
	writeReusedMarkdown(b, s)
	if s.NeedsVerification {
		with := s.VerifyWith
		if with == "" {
			with = "the local building department"
		}
		fmt.Fprintf(b, "\n> **Verify** with %s before relying on this section.\n", mdText(with))
	}
	writeVerificationMarkdown(b, s)
	if len(s.Findings) > 0 {
		verified := s.VerifiedAt != nil
		if verified {
			b.WriteString("\n| Item | Value | Code reference | Sources | Verdict |\n|---|---|---|---|---|\n")
		} else {
			b.WriteString("\n| Item | Value | Code reference | Sources |\n|---|---|---|---|\n")
		}
		for _, f := range s.Findings {
			refs := sourceRefs(f.SourceIDs, s.Sources)
			if !f.Supported {
				refs = strings.TrimSpace(refs + " ⚠ unsupported")
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |", mdCell(f.Label), mdCell(f.Value), mdCell(codeCell(f)), refs)
			if verified {
				fmt.Fprintf(b, " %s |", verdictCell(f, s.Sources))
			}
			b.WriteString("\n")
		}
	}
	if len(s.Sources) > 0 {
		b.WriteString("\nSources:\n\n")
		for _, src := range s.Sources {
			title := src.Title
			if title == "" {
				title = src.URL
			}
			notes := ""
			if src.Official {
				notes = " (official)"
			}
			if src.Published != "" {
				notes += " · published " + mdText(src.Published)
			}
			if src.LastUpdated != "" {
				notes += " · updated " + mdText(src.LastUpdated)
			}
			fmt.Fprintf(b, "%d. %s%s\n", src.ID, mdLink(mdCell(title), src.URL), notes)
		}
	}
}

// codeCell is a finding's code reference with the edition and effective
// date the research found for it: "SJMC 24.02.100 (2025 California
// Building Code, effective 2026-01-01)".
func codeCell(f Finding) string {
	var edition []string
	if f.CodeEdition != "" {
		edition = append(edition, f.CodeEdition)
	}
	if f.EffectiveDate != "" {
		edition = append(edition, "effective "+f.EffectiveDate)
	}
	if len(edition) == 0 {
		return f.CodeReference
	}
	return strings.TrimSpace(f.CodeReference + " (" + strings.Join(edition, ", ") + ")")
}

// sourceRefs links each cited id to its source: [1](url). An id with no
// source, or a source whose URL is not http(s), stays plain text.
func sourceRefs(ids []int, sources []Source) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("\\[%d\\]", id)
		for _, src := range sources {
			if src.ID == id && linkable(src.URL) {
				parts[i] = fmt.Sprintf("[%d](%s)", id, mdURL(src.URL))
			}
		}
	}
	return strings.Join(parts, " ")
}

// mdLink is [text](url) for an http(s) url, else the text alone.
func mdLink(text, url string) string {
	if !linkable(url) {
		return text
	}
	return fmt.Sprintf("[%s](%s)", text, mdURL(url))
}

func linkable(url string) bool {
	u := strings.ToLower(url)
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}

// mdURL percent-encodes what would end or break a Markdown link target.
func mdURL(url string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E", "|", "%7C", "\n", "", "\r", "").Replace(url)
}

// mdCell is mdText that can also sit in a table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(mdText(s), "|", `\|`)
}

// simulatedBanner heads a report any of whose sections is simulated.
const simulatedBanner = "> **⚠ SIMULATED DATA.** Sections %s come from codecheck's simulated provider: they are not research, and nothing in them may be relied on."

// writeSummaryMarkdown writes the banner, key facts, red flags and offices
// that lead the report.
func writeSummaryMarkdown(b *strings.Builder, sum Summary, sections []SectionResult) {
	if sum.Simulated {
		b.WriteString("\n")
		fmt.Fprintf(b, simulatedBanner+"\n", mdText(strings.Join(sum.SimulatedSections, ", ")))
	}
	sources := map[string][]Source{}
	for _, s := range sections {
		sources[s.Key] = s.Sources
	}
	b.WriteString("\n## Key facts\n\n| Fact | Value | Section | Sources |\n|---|---|---|---|\n")
	for _, f := range sum.KeyFacts {
		value := mdCell(f.Value)
		if !f.Found {
			value = "_not found_"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", f.Label, value, mdCell(f.Section), sourceRefs(f.SourceIDs, sources[f.Section]))
	}
	b.WriteString("\n## Red flags\n\n")
	if len(sum.RedFlags) == 0 {
		b.WriteString("None found.\n")
	}
	for _, f := range sum.RedFlags {
		fmt.Fprintf(b, "- **%s** (%s): %s\n", mdText(f.Section), f.Kind, mdText(f.Message))
	}
	b.WriteString("\n## Offices to contact\n\n")
	if len(sum.Offices) == 0 {
		b.WriteString("None named.\n")
	}
	for _, o := range sum.Offices {
		line := mdText(o.Name)
		var details []string
		for _, d := range []string{o.Role, o.Phone} {
			if d != "" {
				details = append(details, mdText(d))
			}
		}
		if o.URL != "" {
			details = append(details, mdLink(mdText(o.URL), o.URL))
		}
		if len(details) > 0 {
			line += " — " + strings.Join(details, ", ")
		}
		fmt.Fprintf(b, "- %s (%s)\n", line, mdText(strings.Join(o.Sections, ", ")))
	}
}
