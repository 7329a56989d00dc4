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

// TestSimulatedJurisdiction: the fake's jurisdiction section names the
// city and state of the address, so fake jobs have a jurisdiction identity
// (and reuse between them works); nothing else is made up, and other
// sections carry none.
func TestSimulatedJurisdiction(t *testing.T) {
	p := newFake(t, fake.Config{Latency: -1})
	ask := func(key, address string) *domain.Jurisdiction {
		spec, _ := domain.LookupSection(key)
		resp, err := p.Research(context.Background(), ports.SectionRequest{Section: spec, Address: address})
		require.NoError(t, err)
		var body struct{ Jurisdiction *domain.Jurisdiction }
		require.NoError(t, json.Unmarshal([]byte(resp.Content), &body))
		return body.Jurisdiction
	}
	j := ask(domain.JurisdictionKey, "200 E Santa Clara St, San Jose, CA 95113")
	require.NotNil(t, j)
	require.Equal(t, domain.Jurisdiction{City: "San Jose", State: "CA", OfficialDomains: []string{}, Offices: []domain.JurisdictionOffice{}}, *j)
	require.Equal(t, "ca||san jose|", j.Identity())
	require.Equal(t, j.Identity(), ask(domain.JurisdictionKey, "1 Park Ave, San Jose, California").Identity())
	require.Equal(t, "dc||washington|", ask(domain.JurisdictionKey, "1600 Pennsylvania Ave NW, Washington, DC 20500-0003").Identity())
	require.Nil(t, ask(domain.JurisdictionKey, "1 Main St, Springfield"), "no state: no jurisdiction")
	require.Nil(t, ask("energy_code", "200 E Santa Clara St, San Jose, CA 95113"))
}
