package fake_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/llm/fake"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// The fake reads no pages: a verification gets every finding unverifiable,
// never verified, so a simulated report never claims a check it did not do.
func TestVerificationIsUnverifiable(t *testing.T) {
	p, err := fake.New(fake.Config{Latency: -1})
	require.NoError(t, err)
	spec, _ := domain.LookupSection("zoning_use")
	resp, err := p.Research(context.Background(), ports.SectionRequest{Section: spec, Address: "1 Main St, Springfield",
		Verify: []domain.Finding{{Label: "a", Value: "b"}, {Label: "c", Value: "d"}}})
	require.NoError(t, err)
	var a struct {
		Verdicts []struct {
			Finding int    `json:"finding"`
			Verdict string `json:"verdict"`
		} `json:"verdicts"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Content), &a))
	require.Len(t, a.Verdicts, 2)
	for i, v := range a.Verdicts {
		require.Equal(t, i+1, v.Finding)
		require.Equal(t, "unverifiable", v.Verdict)
	}
	require.Equal(t, "simulated", resp.Model)
}
