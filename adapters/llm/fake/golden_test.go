package fake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata")

// TestReportMarkdownGolden renders the Markdown report of a job answered by
// the fake provider (fixed ids and times; one section failed, as the
// fake's fail rate would make it) and compares it with the golden file:
// banner, key facts, red flags, offices and linked citations.
// Regenerate with: go test ./adapters/llm/fake -run Golden -update
// TestReportMarkdownGolden renders the Markdown report of a job answered by
// the fake provider (fixed ids and times; one section failed, as the
// fake's fail rate would make it) and compares it with the golden file:
// the banner, key facts all "not found" (simulated data is never a fact),
// the failure as the only red flag, and linked citations.
// Regenerate with: go test ./adapters/llm/fake -run Golden -update
func TestReportMarkdownGolden(t *testing.T) {
	job, saved := fakeReport(t, "1 Main St, Springfield <IL>")
	requireGolden(t, "report.golden.md", domain.NewReport(job, saved))
}

// TestMixedReportMarkdownGolden: four sections researched by a grounded
// provider (testdata/researched_sections.json: a typed jurisdiction with
// offices, code editions, a historic district, a flood zone) and the rest
// from the fake. The golden file shows key facts from the typed
// jurisdiction and the findings, overlay and hazard red flags, the offices
// with role, phone and link, the banner naming only the simulated sections,
// and citations linking to their sources.
func TestMixedReportMarkdownGolden(t *testing.T) {
	job, saved := fakeReport(t, "200 E Santa Clara St, San Jose, CA 95113")
	raw, err := os.ReadFile(filepath.Join("testdata", "researched_sections.json"))
	require.NoError(t, err)
	var researched []domain.SectionResult
	require.NoError(t, json.Unmarshal(raw, &researched))
	for _, r := range researched {
		i := slices.IndexFunc(saved, func(s domain.SectionResult) bool { return s.Key == r.Key })
		require.GreaterOrEqual(t, i, 0, r.Key)
		r.Title, r.Ordinal, r.Status, r.Attempts, r.FinishedAt = saved[i].Title, saved[i].Ordinal, domain.SectionCompleted, 1, saved[i].FinishedAt
		saved[i] = r
	}
	job.Provider = "perplexity"
	report := domain.NewReport(job, saved)
	sum := report.Summary()
	require.True(t, sum.Simulated)
	require.NotContains(t, sum.SimulatedSections, domain.JurisdictionKey)
	requireGolden(t, "report_mixed.golden.md", report)
}

// fakeReport is a completed job at address whose sections the fake
// answered, but utilities_site, which failed.
func fakeReport(t *testing.T, address string) (domain.Job, []domain.SectionResult) {
	p := newFake(t, fake.Config{Latency: -1})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	keys := domain.SectionKeys()
	job := domain.Job{ID: "0195f0a0-0000-7000-8000-000000000001", Address: address,
		Provider: fake.Name, Status: domain.JobCompleted, Sections: keys, Done: len(keys),
		CreatedAt: at, FinishedAt: &at}
	var saved []domain.SectionResult
	for _, key := range keys {
		spec, _ := domain.LookupSection(key)
		r := domain.NewSectionResult(spec)
		r.FinishedAt = &at
		if key == "utilities_site" {
			r.Status, r.Error = domain.SectionFailed, "fake: simulated failure (CODECHECK_FAKE_LLM_FAIL_RATE)"
			saved = append(saved, r)
			continue
		}
		resp, err := p.Research(context.Background(), ports.SectionRequest{JobID: job.ID, Address: job.Address, Section: spec, Attempt: 1})
		require.NoError(t, err)
		saved = append(saved, fromAnswer(t, r, resp))
	}
	return job, saved
}

// requireGolden compares report's Markdown with testdata/name, or rewrites
// it with -update.
func requireGolden(t *testing.T, name string, report domain.Report) {
	var md bytes.Buffer
	require.NoError(t, report.WriteMarkdown(&md))
	golden := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, md.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), md.String(), "go test ./adapters/llm/fake -run Golden -update")
}

// fromAnswer fills r from the fake's answer the way the agent does for an
// answer without quotes: a finding citing a known source but quoting none of
// its snippet is unsupported.
func fromAnswer(t *testing.T, r domain.SectionResult, resp ports.SectionResponse) domain.SectionResult {
	var a struct {
		Summary           string            `json:"summary"`
		Outcome           domain.Outcome    `json:"outcome"`
		Confidence        domain.Confidence `json:"confidence"`
		ConfidenceReason  string            `json:"confidence_reason"`
		Findings          []domain.Finding  `json:"findings"`
		NeedsVerification bool              `json:"needs_verification"`
		VerifyWith        string            `json:"verify_with"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Content), &a))
	r.Status, r.Summary, r.Outcome, r.Confidence, r.ConfidenceReason = domain.SectionCompleted, a.Summary, a.Outcome, a.Confidence, a.ConfidenceReason
	r.Findings, r.Sources, r.NeedsVerification, r.VerifyWith = a.Findings, resp.Sources, a.NeedsVerification, a.VerifyWith
	r.Provider, r.Model, r.Grounded, r.Usage, r.Attempts = fake.Name, resp.Model, resp.Grounded, resp.Usage, 1
	return r
}
