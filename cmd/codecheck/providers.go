package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/adapters/llm/gemini"
	"github.com/codecheck/codecheck/adapters/llm/openai"
	"github.com/codecheck/codecheck/adapters/llm/perplexity"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// providerSetup tells, per known provider, what to set to enable it; the
// app repeats it in errors about an unconfigured provider (a 422 from
// POST /jobs, a check that names one).
func providerSetup() map[string]string {
	return map[string]string{
		"perplexity": perplexitySettings.Key.Name,
		"openai":     openaiSettings.Key.Name,
		"gemini":     geminiSettings.Key.Name,
		fake.Name:    envFakeLLM.Name + "=1",
	}
}

// providersModule provides the configured LLM providers, each behind its
// limits: concurrency per process, the per-minute budget and pauses from
// the store's ProviderBudget, shared by every process on it.
func providersModule() fx.Option {
	return fx.Module("providers", fx.Provide(newProviders))
}

func newProviders(lc fx.Lifecycle, cfg config, budget ports.ProviderBudget, log *slog.Logger) (*app.Providers, error) {
	var llms []ports.LLM
	if cfg.FakeLLM {
		f, err := fake.New(fake.Config{Latency: fakeLatency(cfg.FakeLatency), FailRate: cfg.FakeFailRate, LogPath: cfg.FakeLog})
		if err != nil {
			return nil, err
		}
		lc.Append(fx.StopHook(f.Close))
		llms = append(llms, f)
	}
	real, err := realProviders(cfg)
	if err != nil {
		return nil, usageError{err}
	}
	// Real providers share the fleet's budget; the simulated one has no
	// quota to protect.
	for _, l := range real {
		llms = append(llms, app.LimitWith(l, app.LimitConfig{Concurrent: cfg.ProviderConc, PerMinute: cfg.ProviderRPM,
			Budget: budget, Logger: log}))
	}
	p, err := app.NewProvidersWith(app.ProvidersConfig{Default: cfg.DefaultProvider, LLMs: llms, Setup: providerSetup()})
	if errors.Is(err, app.ErrDefaultProvider) {
		return nil, usagef("%s: %v", envDefaultProvider.Name, err)
	}
	if err != nil {
		return nil, err
	}
	log.Debug("providers configured", "providers", p.Names(), "default", p.Default())
	return p, nil
}

// realProviders builds the providers whose API key is set, in default
// preference order.
func realProviders(cfg config) ([]ports.LLM, error) {
	var out []ports.LLM
	if c := cfg.Perplexity; c.APIKey != "" {
		p, err := perplexity.New(perplexity.Config{APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model, Timeout: cfg.ProviderTimeout})
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if c := cfg.OpenAI; c.APIKey != "" {
		p, err := openai.New(openai.Config{APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model,
			Timeout: cfg.ProviderTimeout, AllowUngrounded: c.AllowUngrounded})
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if c := cfg.Gemini; c.APIKey != "" {
		p, err := gemini.New(gemini.Config{APIKey: c.APIKey, BaseURL: c.BaseURL, Model: c.Model, Timeout: cfg.ProviderTimeout})
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// warnIfNoProvider logs at start-up, for `serve` and `worker`, that a
// process with no provider runs no jobs, and what configures one: such a
// process starts and looks healthy while its jobs wait. consequence says
// what else it means for the command.
func warnIfNoProvider(consequence string) fx.Option {
	return fx.Invoke(func(p *app.Providers, log *slog.Logger) {
		if len(p.Names()) > 0 {
			return
		}
		_, err := p.Resolve("")
		var ve *domain.ValidationError
		errors.As(err, &ve)
		log.Warn("no LLM provider is configured: "+consequence+
			"; pending jobs wait for a worker that has their provider", "set", ve.EnvVar)
	})
}

// runnableOnly is the local executor as the dispatcher sees it: it declines
// a job whose provider this process lacks rather than queue it for workers
// that would leave it, since every such hand-off counts towards failing the
// job. The decline is recorded on the job (its dispatch_error) and retried
// after the dispatcher's longest backoff; meanwhile the job stays pending
// for any worker that has the provider.
type runnableOnly struct {
	ports.Executor
	providers *app.Providers
}

var _ ports.Executor = runnableOnly{}

func (e runnableOnly) Submit(ctx context.Context, h ports.Handoff) (string, error) {
	if _, err := e.providers.Resolve(h.Job.Provider); err != nil {
		return "", &ports.ExecutorError{Executor: e.Name(),
			Err: fmt.Errorf("this process cannot run the job: %w; it waits for a worker that has provider %q", err, h.Job.Provider)}
	}
	return e.Executor.Submit(ctx, h)
}

// fakeLatency is CODECHECK_FAKE_LLM_LATENCY as fake.Config reads it: 0 there
// is the default, so none at all is negative.
func fakeLatency(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
