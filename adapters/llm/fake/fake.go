// Package fake is a simulated LLM provider for tests and for trying
// codecheck without provider keys. Its answers are deterministic, follow the
// section schema, and are labelled as simulated everywhere they show; it
// never contacts anything.
package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Name is the provider's name.
const Name = "fake"

// Config sets the simulation.
type Config struct {
	// Latency is how long each call takes (default 100ms; negative: none).
	Latency time.Duration
	// FailRate is the fraction of calls, 0..1, that fail with a retryable
	// error (a simulated HTTP 503).
	FailRate float64
	// LogPath, when set, gets one line per call: "job_id section_key
	// attempt", with section_key "KEY/verify" for a verification call.
	LogPath string
}

// Provider is the simulated provider.
type Provider struct {
	cfg Config
	mu  sync.Mutex
	log *os.File
}

var _ ports.LLM = (*Provider)(nil)

// New checks cfg and returns a Provider. Close it to close the call log.
func New(cfg Config) (*Provider, error) {
	if cfg.FailRate < 0 || cfg.FailRate > 1 {
		return nil, fmt.Errorf("CODECHECK_FAKE_LLM_FAIL_RATE: must be between 0 and 1, got %v", cfg.FailRate)
	}
	if cfg.Latency == 0 {
		cfg.Latency = 100 * time.Millisecond
	}
	p := &Provider{cfg: cfg}
	if cfg.LogPath != "" {
		f, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("CODECHECK_FAKE_LLM_LOG: %w", err)
		}
		p.log = f
	}
	return p, nil
}

// Close closes the call log.
func (p *Provider) Close() error {
	if p.log == nil {
		return nil
	}
	return p.log.Close()
}

func (p *Provider) Name() string  { return Name }
func (p *Provider) Model() string { return "simulated" }

// Research answers after the configured latency with a simulated result.
func (p *Provider) Research(ctx context.Context, req ports.SectionRequest) (ports.SectionResponse, error) {
	if err := ctx.Err(); err != nil {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: Name, Message: "call canceled", Err: err}
	}
	if err := p.record(req); err != nil {
		return ports.SectionResponse{}, err
	}
	if p.cfg.Latency > 0 {
		t := time.NewTimer(p.cfg.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ports.SectionResponse{}, &ports.ProviderError{Provider: Name, Message: "call canceled", Err: ctx.Err()}
		case <-t.C:
		}
	}
	if p.cfg.FailRate > 0 && rand.Float64() < p.cfg.FailRate {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: Name, StatusCode: 503, Retryable: true,
			Message: "simulated failure (CODECHECK_FAKE_LLM_FAIL_RATE)"}
	}
	if len(req.Verify) > 0 {
		return verdicts(req), nil
	}
	return answer(req), nil
}

// verdicts answers a verification: the fake reads no pages, so every
// finding is unverifiable.
func verdicts(req ports.SectionRequest) ports.SectionResponse {
	vs := make([]map[string]any, len(req.Verify))
	for i := range req.Verify {
		vs[i] = map[string]any{"finding": i + 1, "verdict": "unverifiable", "source_id": nil, "quote": "",
			"note": "[SIMULATED] the fake provider reads no pages"}
	}
	content, _ := json.Marshal(map[string]any{"verdicts": vs})
	return ports.SectionResponse{Content: string(content), Model: "simulated",
		Usage: domain.Usage{InputTokens: int64(len(req.System)+len(req.User)) / 4, OutputTokens: int64(len(content)) / 4}}
}

func (p *Provider) record(req ports.SectionRequest) error {
	if p.log == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := req.Section.Key
	if len(req.Verify) > 0 {
		key += "/verify" // a verification call, told apart from research
	}
	if _, err := fmt.Fprintf(p.log, "%s %s %d\n", req.JobID, key, req.Attempt); err != nil {
		return &ports.ProviderError{Provider: Name, Message: "cannot write call log", Err: err}
	}
	return nil
}

// answer builds the deterministic simulated answer for req.
func answer(req ports.SectionRequest) ports.SectionResponse {
	key := req.Section.Key
	sources := []domain.Source{
		{ID: 1, URL: "https://codecheck.invalid/simulated/" + key, Title: "Simulated source for " + req.Section.Title,
			Snippet: "Simulated by the fake provider; not real research."},
	}
	body := map[string]any{
		"summary": fmt.Sprintf("[SIMULATED] %s for %s. This text comes from codecheck's fake provider and is not real research.",
			req.Section.Title, req.Address),
		// Never "found": nothing was researched, so nothing was found.
		"outcome":           "not_found",
		"confidence":        "low",
		"confidence_reason": "simulated answer from the fake provider: nothing was researched",
		"findings": []map[string]any{{
			"label": req.Section.Question, "value": "[SIMULATED] see the official source",
			"code_reference": "", "source_ids": []int{1},
		}},
		"needs_verification": true,
		"verify_with":        "the local building department (simulated result)",
	}
	if j := simulatedJurisdiction(req.Address); key == domain.JurisdictionKey && j != nil {
		body["jurisdiction"] = j
	}
	content, _ := json.Marshal(body)
	return ports.SectionResponse{Content: string(content), Sources: sources, Model: "simulated", Grounded: false,
		Usage: domain.Usage{InputTokens: int64(len(req.System)+len(req.User)) / 4, OutputTokens: int64(len(content)) / 4}}
}
