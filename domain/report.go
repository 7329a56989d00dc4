package domain

import (
	"fmt"
	"io"
	"strings"
)

// Report is a job with every one of its section results, in report order.
type Report struct {
	Job      Job             `json:"job"`
	Sections []SectionResult `json:"sections"`
	Usage    Usage           `json:"usage"`
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
	return r
}

// WriteMarkdown renders the report as Markdown.
func (r Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	j := r.Job
	fmt.Fprintf(&b, "# Building code report: %s\n\n", j.Address)
	fmt.Fprintf(&b, "- Job: `%s`\n- Status: %s (%s sections)\n- Provider: %s\n", j.ID, j.Status, j.Progress(), j.Provider)
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
