package app

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// KnownProviders are the providers codecheck can talk to, configured or
// not, in the order a default is picked from the configured ones.
var KnownProviders = []KnownProvider{{Name: "perplexity"}, {Name: "openai"}, {Name: "gemini"}, {Name: "fake"}}

// KnownProvider is a provider codecheck can talk to. How it is configured is
// not the app's business: ProvidersConfig.Setup says it, for errors.
type KnownProvider struct{ Name string }

// ErrDefaultProvider is wrapped by the error NewProvidersWith returns when
// the default provider is unknown or not configured.
var ErrDefaultProvider = errors.New("default provider")

// ProvidersConfig is the set of configured providers.
type ProvidersConfig struct {
	// LLMs are the configured providers.
	LLMs []ports.LLM
	// Default names the default provider; empty picks the first configured
	// of KnownProviders, else the first of LLMs.
	Default string
	// Setup says, per known provider name, what an operator sets to
	// configure it (cmd gives the environment variable, e.g.
	// "OPENAI_API_KEY"). Errors about an unconfigured provider repeat it in
	// domain.ValidationError.EnvVar; without it they only name the provider.
	Setup map[string]string
}

// Providers is the set of configured LLM providers and the default one.
type Providers struct {
	byName map[string]ports.LLM
	def    string
	setup  map[string]string
}

// NewProviders registers llms with def as the default provider:
// NewProvidersWith without setup hints.
func NewProviders(def string, llms ...ports.LLM) (*Providers, error) {
	return NewProvidersWith(ProvidersConfig{Default: def, LLMs: llms})
}

// NewProvidersWith registers cfg.LLMs. A default that is unknown or not
// configured is an error wrapping ErrDefaultProvider and the
// *domain.ValidationError that Resolve would give.
func NewProvidersWith(cfg ProvidersConfig) (*Providers, error) {
	p := &Providers{byName: make(map[string]ports.LLM, len(cfg.LLMs)), setup: cfg.Setup}
	for _, l := range cfg.LLMs {
		if l == nil {
			return nil, errors.New("app.NewProviders: nil LLM provider")
		}
		p.byName[l.Name()] = l
	}
	p.def = cmp.Or(cfg.Default, p.preferred())
	if p.def == "" && len(cfg.LLMs) > 0 {
		p.def = cfg.LLMs[0].Name()
	}
	if p.def != "" {
		if _, err := p.Resolve(p.def); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDefaultProvider, err)
		}
	}
	return p, nil
}

// preferred is the first configured of KnownProviders, or "".
func (p *Providers) preferred() string {
	for _, k := range KnownProviders {
		if _, ok := p.byName[k.Name]; ok {
			return k.Name
		}
	}
	return ""
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
// known but unconfigured one it carries the provider's setup hint, and with
// none configured at all, every hint.
func (p *Providers) Resolve(name string) (ports.LLM, error) {
	if name == "" {
		name = p.def
		if name == "" {
			return nil, &domain.ValidationError{Field: "llm_provider",
				Rule: "no LLM provider is configured", EnvVar: p.anySetup()}
		}
	}
	if l, ok := p.byName[name]; ok {
		return l, nil
	}
	known := make([]string, len(KnownProviders))
	for i, k := range KnownProviders {
		known[i] = k.Name
	}
	if slices.Contains(known, name) {
		return nil, &domain.ValidationError{Field: "llm_provider",
			Rule: fmt.Sprintf("provider %q is not configured", name), EnvVar: p.setup[name]}
	}
	return nil, domain.Invalid("llm_provider", fmt.Sprintf("unknown provider %q; must be one of %s", name, strings.Join(known, ", ")))
}

// anySetup joins the setup hints of the known providers: "one of A, B or C".
func (p *Providers) anySetup() string {
	var hints []string
	for _, k := range KnownProviders {
		if h := p.setup[k.Name]; h != "" {
			hints = append(hints, h)
		}
	}
	switch len(hints) {
	case 0:
		return ""
	case 1:
		return hints[0]
	}
	return "one of " + strings.Join(hints[:len(hints)-1], ", ") + " or " + hints[len(hints)-1]
}
