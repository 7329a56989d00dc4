package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// named is an LLM that only has a name.
type named string

func (n named) Name() string  { return string(n) }
func (n named) Model() string { return "m" }
func (n named) Research(context.Context, ports.SectionRequest) (ports.SectionResponse, error) {
	return ports.SectionResponse{}, errors.New("not called")
}

var setup = map[string]string{"openai": "OPENAI_KEY", "gemini": "GEMINI_KEY", "fake": "FAKE=1"}

func resolveError(t *testing.T, p *app.Providers, name string) *domain.ValidationError {
	t.Helper()
	_, err := p.Resolve(name)
	var ve *domain.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.Equal(t, "llm_provider", ve.Field)
	return ve
}

func TestDefaultProviderIsTheFirstConfiguredInPreferenceOrder(t *testing.T) {
	p, err := app.NewProvidersWith(app.ProvidersConfig{LLMs: []ports.LLM{named("fake"), named("gemini"), named("openai")}})
	require.NoError(t, err)
	require.Equal(t, "openai", p.Default())
	require.Equal(t, []string{"fake", "gemini", "openai"}, p.Names())

	p, err = app.NewProvidersWith(app.ProvidersConfig{LLMs: []ports.LLM{named("scripted")}})
	require.NoError(t, err)
	require.Equal(t, "scripted", p.Default(), "an unknown provider is the default when it is the only one")

	p, err = app.NewProvidersWith(app.ProvidersConfig{Default: "gemini", LLMs: []ports.LLM{named("openai"), named("gemini")}})
	require.NoError(t, err)
	l, err := p.Resolve("")
	require.NoError(t, err)
	require.Equal(t, "gemini", l.Name())
}

// The app names no setting itself: the hints come from its caller.
func TestUnconfiguredProvidersNameTheGivenSetup(t *testing.T) {
	p, err := app.NewProvidersWith(app.ProvidersConfig{LLMs: []ports.LLM{named("fake")}, Setup: setup})
	require.NoError(t, err)
	ve := resolveError(t, p, "openai")
	require.Equal(t, `provider "openai" is not configured`, ve.Rule)
	require.Equal(t, "OPENAI_KEY", ve.EnvVar)
	require.Empty(t, resolveError(t, p, "perplexity").EnvVar, "no hint given for it")
	require.Contains(t, resolveError(t, p, "claude").Rule, "must be one of perplexity, openai, gemini, fake")

	none, err := app.NewProvidersWith(app.ProvidersConfig{Setup: setup})
	require.NoError(t, err)
	ve = resolveError(t, none, "")
	require.Equal(t, "no LLM provider is configured", ve.Rule)
	require.Equal(t, "one of OPENAI_KEY, GEMINI_KEY or FAKE=1", ve.EnvVar)

	bare, err := app.NewProviders("")
	require.NoError(t, err)
	ve = resolveError(t, bare, "openai")
	require.Empty(t, ve.EnvVar)
	require.Empty(t, resolveError(t, bare, "").EnvVar)
}

func TestBadDefaultProvider(t *testing.T) {
	_, err := app.NewProvidersWith(app.ProvidersConfig{Default: "openai", LLMs: []ports.LLM{named("fake")}, Setup: setup})
	require.ErrorIs(t, err, app.ErrDefaultProvider)
	var ve *domain.ValidationError
	require.True(t, errors.As(err, &ve))
	require.Equal(t, "OPENAI_KEY", ve.EnvVar)

	_, err = app.NewProvidersWith(app.ProvidersConfig{Default: "claude", LLMs: []ports.LLM{named("fake")}})
	require.ErrorIs(t, err, app.ErrDefaultProvider)

	_, err = app.NewProvidersWith(app.ProvidersConfig{LLMs: []ports.LLM{nil}})
	require.Error(t, err)
	require.NotErrorIs(t, err, app.ErrDefaultProvider)
}
