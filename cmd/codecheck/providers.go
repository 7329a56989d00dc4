package main

import (
	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/adapters/llm/gemini"
	"github.com/codecheck/codecheck/adapters/llm/openai"
	"github.com/codecheck/codecheck/adapters/llm/perplexity"
	"github.com/codecheck/codecheck/ports"
)

// providerSetup tells, per known provider, what to set to enable it; the
// app repeats it in errors about an unconfigured provider (a 422 from
// POST /jobs, a check that names one).
func providerSetup() map[string]string {
	return map[string]string{
		"perplexity": perplexity.KeyEnvVar,
		"openai":     openai.KeyEnvVar,
		"gemini":     gemini.KeyEnvVar,
		fake.Name:    "CODECHECK_FAKE_LLM=1",
	}
}

// realProviders builds the providers whose API key is set, in default
// preference order.
func realProviders(cfg config) ([]ports.LLM, error) {
	var out []ports.LLM
	if c := cfg.Perplexity; c.APIKey != "" {
		p, err := perplexity.New(perplexity.Config{APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model, Timeout: cfg.ProviderTimeout})
		if err != nil {
			return nil, usageError{err}
		}
		out = append(out, p)
	}
	if c := cfg.OpenAI; c.APIKey != "" {
		p, err := openai.New(openai.Config{APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model, Timeout: cfg.ProviderTimeout})
		if err != nil {
			return nil, usageError{err}
		}
		out = append(out, p)
	}
	if c := cfg.Gemini; c.APIKey != "" {
		p, err := gemini.New(gemini.Config{APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model, Timeout: cfg.ProviderTimeout})
		if err != nil {
			return nil, usageError{err}
		}
		out = append(out, p)
	}
	return out, nil
}
