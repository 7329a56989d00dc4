package fake_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/llmtest"
)

func newFake(t *testing.T, cfg fake.Config) *fake.Provider {
	p, err := fake.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func TestContract(t *testing.T) {
	llmtest.Exercise(t, llmtest.Provider{Name: "fake", New: func(t *testing.T, _ llmtest.Server) ports.LLM {
		return newFake(t, fake.Config{Latency: time.Millisecond})
	}})
}

func TestAnswerIsLabelledSimulatedAndHasASource(t *testing.T) {
	p := newFake(t, fake.Config{Latency: -1})
	resp, err := p.Research(context.Background(), llmtest.Request())
	require.NoError(t, err)
	var body struct{ Summary string }
	require.NoError(t, json.Unmarshal([]byte(resp.Content), &body))
	require.True(t, strings.HasPrefix(body.Summary, "[SIMULATED]"))
	require.Len(t, resp.Sources, 1)
	require.Contains(t, resp.Sources[0].URL, "codecheck.invalid")
	again, _ := p.Research(context.Background(), llmtest.Request())
	require.Equal(t, resp.Content, again.Content, "deterministic")
}

func TestFailRateAndCallLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls.log")
	p := newFake(t, fake.Config{Latency: -1, FailRate: 1, LogPath: log})
	_, err := p.Research(context.Background(), llmtest.Request())
	var pe *ports.ProviderError
	require.True(t, errors.As(err, &pe))
	require.True(t, pe.Retryable)
	require.NoError(t, p.Close())
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	require.Equal(t, "job-llmtest zoning_use 1\n", string(b))

	_, err = fake.New(fake.Config{FailRate: 1.5})
	require.ErrorContains(t, err, "CODECHECK_FAKE_LLM_FAIL_RATE")
}

func TestAnswerIsNeverFound(t *testing.T) {
	p := newFake(t, fake.Config{Latency: -1})
	resp, err := p.Research(context.Background(), llmtest.Request())
	require.NoError(t, err)
	var body struct {
		Outcome          string `json:"outcome"`
		ConfidenceReason string `json:"confidence_reason"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Content), &body))
	require.Equal(t, "not_found", body.Outcome)
	require.Contains(t, body.ConfidenceReason, "simulated")
}
