package fake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.md")

// TestReportMarkdownGolden renders the Markdown report of a job answered by
// the fake provider (fixed ids and times; one section failed, as the
// fake's fail rate would make it) and compares it with the golden file:
// banner, key facts, red flags, offices and linked citations.
// Regenerate with: go test ./adapters/llm/fake -run Golden -update
func TestReportMarkdownGolden(t *testing.T) {
	p := newFake(t, fake.Config{Latency: -1})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	keys := domain.SectionKeys()
	job := domain.Job{ID: "0195f0a0-0000-7000-8000-000000000001", Address: "1 Main St, Springfield <IL>",
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
	var md bytes.Buffer
	require.NoError(t, domain.NewReport(job, saved).WriteMarkdown(&md))

	golden := filepath.Join("testdata", "report.golden.md")
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
