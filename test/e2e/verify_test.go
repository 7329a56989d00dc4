package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/test/providerfake"
)

// verifyReport is what the verification tests read of a JSON report.
type verifyReport struct {
	Job struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		Error      string `json:"error"`
		Verify     bool   `json:"verify"`
		Researched string `json:"researched"`
		Verified   string `json:"verified"`
	} `json:"job"`
	Sections []struct {
		Key               string  `json:"key"`
		Status            string  `json:"status"`
		Confidence        string  `json:"confidence"`
		VerifiedAt        *string `json:"verified_at"`
		VerificationError string  `json:"verification_error"`
		Findings          []struct {
			Label           string `json:"label"`
			SourceIDs       []int  `json:"source_ids"`
			Verdict         string `json:"verdict"`
			VerdictQuote    string `json:"verdict_quote"`
			VerdictSourceID int    `json:"verdict_source_id"`
		} `json:"findings"`
		Sources []struct {
			ID  int    `json:"id"`
			URL string `json:"url"`
		} `json:"sources"`
	} `json:"sections"`
	Summary struct {
		RedFlags []struct {
			Section string `json:"section"`
			Kind    string `json:"kind"`
			Message string `json:"message"`
		} `json:"red_flags"`
	} `json:"summary"`
}

// contradiction is the text the fake's page gives against zoning_use's
// finding.
const contradiction = "Minimum rear setback for a detached ADU: 4 feet."

// contradictZoning answers zoning_use's verification with its first
// finding contradicted by source 1; every other call as usual.
func contradictZoning(c providerfake.Call) providerfake.Reply {
	if !c.Verify || c.Section != "zoning_use" {
		return providerfake.Reply{}
	}
	v := providerfake.ValidVerdicts(c.Findings)
	v.Verdicts[0] = providerfake.Contradicted(1, 1, contradiction)
	b, _ := json.Marshal(v)
	return providerfake.Reply{Content: string(b)}
}

// TestVerifyEveryFindingAgainstTheWireFakes: check --verify gives every
// finding a verdict through a second call per section that reads the cited
// pages the provider's way; a verification that contradicts a finding
// makes it contradicted, the section low and a red flag.
func TestVerifyEveryFindingAgainstTheWireFakes(t *testing.T) {
	for _, p := range allProviders {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, p, contradictZoning)
			env, _ := providerEnv(t, srv, providerKey)
			argv := []string{"check", "--provider", string(p), "--format", "json", "--verify",
				"--sections", "zoning_use,energy_code", checkAddress}
			r := run(t, env, argv...)
			require.Equal(t, 0, r.code, r.stderr)
			var rep verifyReport
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)

			require.Equal(t, "completed", rep.Job.Status, rep.Job.Error)
			require.True(t, rep.Job.Verify)
			require.Equal(t, "3/3", rep.Job.Researched)
			require.Equal(t, "3/3", rep.Job.Verified)
			require.Contains(t, r.stderr, "[3/3 verified]", "the progress lines count verifications")

			for _, s := range rep.Sections {
				require.Equal(t, "completed", s.Status, s.Key)
				require.NotNil(t, s.VerifiedAt, s.Key)
				require.NotEmpty(t, s.Findings, s.Key)
				var cited []string
				for _, f := range s.Findings {
					require.NotEmpty(t, f.Verdict, "%s: %s has a verdict", s.Key, f.Label)
					for _, src := range s.Sources {
						if slices.Contains(f.SourceIDs, src.ID) && !slices.Contains(cited, src.URL) {
							cited = append(cited, src.URL)
						}
					}
				}
				var verifications []providerfake.Call
				for _, c := range srv.CallsFor(s.Key) {
					if c.Verify {
						verifications = append(verifications, c)
					}
				}
				require.Len(t, verifications, 1, "%s: one verification call", s.Key)
				v := verifications[0]
				require.True(t, v.SchemaOK, "%s: the verification schema was sent the provider's way", s.Key)
				require.True(t, v.PageTool, "%s: the page tool was enabled", s.Key)
				require.ElementsMatch(t, cited, v.ReadURLs, "%s: the cited pages are read", s.Key)
				require.Equal(t, len(s.Findings), v.Findings, "%s: every finding is checked", s.Key)
				require.Equal(t, checkAddress, v.Address)
			}

			var zoning, energy int
			for i, s := range rep.Sections {
				switch s.Key {
				case "zoning_use":
					zoning = i
				case "energy_code":
					energy = i
				}
			}
			f := rep.Sections[zoning].Findings[0]
			require.Equal(t, "contradicted", f.Verdict)
			require.Equal(t, contradiction, f.VerdictQuote)
			require.Equal(t, 1, f.VerdictSourceID)
			require.Equal(t, "low", rep.Sections[zoning].Confidence)
			for _, g := range rep.Sections[energy].Findings {
				require.Equal(t, "verified", g.Verdict)
			}
			var flagged bool
			for _, fl := range rep.Summary.RedFlags {
				flagged = flagged || (fl.Kind == "contradicted" && fl.Section == "zoning_use" &&
					strings.Contains(fl.Message, f.Label) && strings.Contains(fl.Message, contradiction))
			}
			require.True(t, flagged, "a red flag names the section and the finding: %+v", rep.Summary.RedFlags)

			md := run(t, env, "report", "--job-id", rep.Job.ID)
			require.Equal(t, 0, md.code, md.stderr)
			require.Contains(t, md.stdout, "- Verified: 3/3 sections")
			require.Contains(t, md.stdout, "✗ contradicted by")
			require.Contains(t, md.stdout, "(contradicted)")
		})
	}
}

// TestWithoutVerifyNoVerificationCalls: a check without --verify makes no
// verification call and its report shows none.
func TestWithoutVerifyNoVerificationCalls(t *testing.T) {
	srv := startFake(t, providerfake.Perplexity, nil)
	env, _ := providerEnv(t, srv, providerKey)
	r := run(t, env, "check", "--provider", "perplexity", "--format", "json", "--sections", "zoning_use", checkAddress)
	require.Equal(t, 0, r.code, r.stderr)
	for _, c := range srv.Calls() {
		require.False(t, c.Verify)
		require.Empty(t, c.ReadURLs)
	}
	require.Len(t, srv.Calls(), 2)
	require.NotContains(t, r.stdout, `"verified_at"`)
	require.NotContains(t, r.stdout, `"verdict"`)
}
