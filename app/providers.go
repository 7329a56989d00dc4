package app

import (
	"fmt"
	"slices"
	"strings"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// KnownProviders maps every provider codecheck can talk to onto the
// environment variable that enables it, in default-preference order.
var KnownProviders = []struct{ Name, EnvVar string }{
	{"perplexity", "PERPLEXITY_API_KEY"},
	{"openai", "OPENAI_API_KEY"},
	{"gemini", "GEMINI_API_KEY"},
	{"fake", "CODECHECK_FAKE_LLM=1"},
}

// Providers is the set of configured LLM providers and the default one.
type Providers struct {
	byName map[string]ports.LLM
	def    string
}

// NewProviders registers llms. def names the default provider; empty picks
// the first configured of perplexity, openai, gemini, then fake.
func NewProviders(def string, llms ...ports.LLM) (*Providers, error) {
	p := &Providers{byName: make(map[string]ports.LLM, len(llms))}
	for _, l := range llms {
		if l == nil {
			return nil, fmt.Errorf("nil LLM provider")
		}
		p.byName[l.Name()] = l
	}
	if def == "" {
		for _, k := range KnownProviders {
			if _, ok := p.byName[k.Name]; ok {
				def = k.Name
				break
			}
		}
		if def == "" && len(llms) > 0 {
			def = llms[0].Name()
		}
	}
	if def != "" {
		if _, err := p.Resolve(def); err != nil {
			return nil, fmt.Errorf("CODECHECK_DEFAULT_PROVIDER: %w", err)
		}
	}
	p.def = def
	return p, nil
}

// Default is the name of the default provider ("" when none is configured).
func (p *Providers) Default() string { return p.def }

// Names lists the configured providers, sorted.
func (p *Providers) Names() []string {
	names := make([]string, 0, len(p.byName))
	for n := range p.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Resolve returns the provider called name ("" = the default). An unknown or
// unconfigured provider is a *domain.ValidationError on llm_provider; for a
// known but unconfigured one it names the variable to set.
func (p *Providers) Resolve(name string) (ports.LLM, error) {
	if name == "" {
		name = p.def
		if name == "" {
			return nil, &domain.ValidationError{Field: "llm_provider",
				Rule: "no LLM provider is configured", EnvVar: "one of PERPLEXITY_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY or CODECHECK_FAKE_LLM=1"}
		}
	}
	if l, ok := p.byName[name]; ok {
		return l, nil
	}
	for _, k := range KnownProviders {
		if k.Name == name {
			return nil, &domain.ValidationError{Field: "llm_provider",
				Rule: fmt.Sprintf("provider %q is not configured", name), EnvVar: k.EnvVar}
		}
	}
	known := make([]string, len(KnownProviders))
	for i, k := range KnownProviders {
		known[i] = k.Name
	}
	return nil, domain.Invalid("llm_provider", fmt.Sprintf("unknown provider %q; must be one of %s", name, strings.Join(known, ", ")))
}
