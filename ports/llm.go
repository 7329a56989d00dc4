package ports

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// SectionRequest is one LLM call: research one section for one address.
type SectionRequest struct {
	JobID   string // for logs and the fake provider's call log
	Attempt int    // the job attempt
	Section domain.SectionSpec
	Address string
	// System and User are the prompts the agent built. The address appears
	// in User only as delimited data.
	System string
	User   string
	// Schema is the JSON schema the answer must follow; SchemaName names
	// it for providers that want a name.
	Schema     json.RawMessage
	SchemaName string
	// AllowedDomains, when not empty, narrows the web search to these hosts
	// and their subdomains (as domain.NormalizeDomains returns them):
	// OpenAI's filters.allowed_domains, Perplexity's search_domain_filter,
	// a site-restricted wording of the prompt for Gemini.
	AllowedDomains []string
	// ReadURLs, when not empty, are pages the provider should read in
	// full (at most 20): a provider with a page-reading tool enables it
	// (Gemini's URL context, Perplexity's fetch_url; OpenAI's web_search
	// opens pages itself) and the URLs go into the prompt.
	ReadURLs []string
	// Verify, when not empty, makes the request a verification of these
	// findings (the prompt carries them, numbered from 1): the answer
	// follows the verification schema instead of the section's. Adapters
	// need not read it; the simulated provider answers from it.
	Verify []domain.Finding
}

// SectionResponse is a provider's answer to a SectionRequest.
type SectionResponse struct {
	// Content is the answer text, expected to be JSON following the schema.
	Content string
	// Sources are the web sources the provider used (empty if ungrounded).
	Sources  []domain.Source
	Usage    domain.Usage
	Model    string
	Grounded bool
	// Spans are the provider's grounding spans (Gemini's
	// groundingSupports): pieces of Content and the ids of the Sources that
	// support them. Empty when the provider gives none.
	Spans []GroundingSpan
	// Truncated: the provider stopped early (e.g. max output tokens).
	Truncated bool
}

// GroundingSpan ties a piece of an answer's text to the sources behind it.
type GroundingSpan struct {
	Text      string
	SourceIDs []int
}

// LLM is one provider.
type LLM interface {
	// Name is the provider's name ("perplexity", "openai", "gemini", "fake").
	Name() string
	// Model is the model the provider will use.
	Model() string
	// Research performs one call. Failures are *ProviderError, classified
	// retryable or permanent; messages never contain credentials.
	Research(ctx context.Context, req SectionRequest) (SectionResponse, error)
}

// ProviderError is a classified provider failure.
type ProviderError struct {
	Provider   string
	StatusCode int           // HTTP status, 0 when none
	Retryable  bool          // 429, 5xx, timeouts, connection resets
	RetryAfter time.Duration // the server's Retry-After, 0 when not given
	Message    string        // safe to show: no secrets
	// EnvVar names the setting to check for auth and configuration errors.
	EnvVar string
	Err    error
}

func (e *ProviderError) Error() string {
	msg := e.Provider + ": "
	if e.StatusCode != 0 {
		msg += fmt.Sprintf("HTTP %d: ", e.StatusCode)
	}
	msg += e.Message
	if e.EnvVar != "" {
		msg += " (check " + e.EnvVar + ")"
	}
	return msg
}

func (e *ProviderError) Unwrap() error { return e.Err }
