package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/providerfake"
)

// These tests run `codecheck check` against local servers that speak each
// provider's documented API (test/providerfake), and check both sides: what
// the binary sent, and the report it made of the answers.

// providerExpect is what one provider's report and requests must show.
type providerExpect struct {
	env      []string       // extra settings
	model    string         // the model the server must be asked for and the report must name
	search   bool           // requests ask for the provider's web search tool
	grounded bool           // sections are grounded in the served sources
	sources  []reportSource // each section's sources, numbered 1..n
	// findingIDs are the source ids of the jurisdiction answer's findings
	// and of every other section's finding, after renumbering.
	jurisdictionIDs, otherIDs [][]int
	cost                      *float64 // per call: the provider's own, else the price table's
}

func expectations() map[providerfake.Provider]providerExpect {
	served := providerfake.Sources()
	cost := providerfake.CostUSD
	geminiSource := func(n int, domain string, official bool) reportSource {
		return reportSource{ID: n, URL: providerfake.GeminiRedirectURL(n), Title: domain, Official: official}
	}
	return map[providerfake.Provider]providerExpect{
		// Served results 1 and 3 are the same page: the report keeps one,
		// renumbers, and points the findings at the new numbers.
		providerfake.Perplexity: {
			model: "perplexity/sonar", search: true, grounded: true, cost: &cost,
			sources: []reportSource{
				{ID: 1, URL: served[0].URL, Title: served[0].Title, Official: true},
				{ID: 2, URL: served[1].URL, Title: served[1].Title, Official: true},
				{ID: 3, URL: served[3].URL, Title: served[3].Title, Official: false},
			},
			jurisdictionIDs: [][]int{{1}, {2, 1}}, otherIDs: [][]int{{1, 3}},
		},
		// The default OpenAI model searches with the Responses API's
		// web_search tool: the cited pages become the sources, merged and
		// renumbered as Perplexity's are. OpenAI reports no cost: it comes
		// from the price table (tokens and one web search per call).
		providerfake.OpenAI: {
			model: "gpt-5-mini", search: true, grounded: true, cost: tableCost("openai", "gpt-5-mini", 1),
			sources: []reportSource{
				{ID: 1, URL: served[0].URL, Title: served[0].Title, Official: true},
				{ID: 2, URL: served[1].URL, Title: served[1].Title, Official: true},
				{ID: 3, URL: served[3].URL, Title: served[3].Title, Official: false},
			},
			jurisdictionIDs: [][]int{{1}, {2, 1}}, otherIDs: [][]int{{1, 3}},
		},
		// Gemini grounds with opaque redirect URIs and the site's domain as
		// title: the domain decides "official".
		providerfake.Gemini: {
			env:   []string{"GEMINI_MODEL=gemini-e2e-flash"},
			model: "gemini-e2e-flash", search: true, grounded: true, cost: tableCost("gemini", "gemini-e2e-flash", 1),
			sources: []reportSource{
				geminiSource(1, "sanjoseca.gov", true), geminiSource(2, "library.municode.com", true),
				geminiSource(3, "sanjoseca.gov", true), geminiSource(4, "adu-guide-blog.example.com", false),
			},
			jurisdictionIDs: [][]int{{1}, {2, 3}}, otherIDs: [][]int{{3, 4}},
		},
	}
}

// TestProviderCheckFullReport: for each provider, a full 13-section check
// against its fake completes with a report built from the provider's answers,
// and the requests were what the provider documents: key, model, schema,
// search tool, the address as delimited data, the jurisdiction first and its
// findings as context for every other section, each section asked once.
func TestProviderCheckFullReport(t *testing.T) {
	for p, want := range expectations() {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, p, nil)
			env, _ := providerEnv(t, srv, providerKey, want.env...)
			r, rep := checkReport(t, env, p)
			require.Equal(t, 0, r.code, r.stderr)

			requireRequests(t, srv.Calls(), want)
			requireFullReport(t, p, rep, want)
		})
	}
}

// requireRequests checks what the provider received during a full check.
func requireRequests(t *testing.T, calls []providerfake.Call, want providerExpect) {
	t.Helper()
	require.Equal(t, 13, len(calls), "one call per section, no more")
	require.Equal(t, "jurisdiction", calls[0].Section, "the jurisdiction section is asked first")
	jurisdiction := calls[0]
	perSection := map[string]int{}
	for _, c := range calls {
		require.Empty(t, c.Problems, "call %d (%s) breaks the provider's API", c.N, c.Section)
		require.True(t, c.Success, "call %d (%s) answered %d", c.N, c.Section, c.Status)
		require.Equal(t, providerKey, c.Key, "call %d", c.N)
		require.Equal(t, want.model, c.Model, "call %d", c.N)
		require.True(t, c.SchemaOK, "call %d (%s) did not send the answer schema", c.N, c.Section)
		require.Equal(t, want.search, c.SearchTool, "call %d (%s): web search tool", c.N, c.Section)
		require.Equal(t, checkAddress, c.Address, "call %d (%s): the address inside <address> delimiters", c.N, c.Section)
		require.NotContains(t, c.System, checkAddress, "the address belongs in the user prompt only")
		require.False(t, c.Repair, "call %d", c.N)
		perSection[c.Section]++
		if c.Section == "jurisdiction" {
			require.False(t, c.HasJurisdiction, "the jurisdiction section has no jurisdiction context")
			continue
		}
		require.True(t, c.Received.After(jurisdiction.Answered) || c.Received.Equal(jurisdiction.Answered),
			"%s was asked before the jurisdiction was answered", c.Section)
		require.True(t, c.HasJurisdiction, "%s: no <jurisdiction> block", c.Section)
		for _, part := range []string{providerfake.JurisdictionSummary, "Jurisdiction: City of San Jose (incorporated)",
			"Building office: City of San Jose Building Division", "SJMC 24.02.100"} {
			require.Contains(t, c.Jurisdiction, part, "%s: jurisdiction context", c.Section)
		}
	}
	require.Len(t, perSection, 13)
	for key, n := range perSection {
		require.Equal(t, 1, n, "section %s asked %d times", key, n)
	}
}

// requireFullReport checks the report of a full, successful check.
func requireFullReport(t *testing.T, p providerfake.Provider, rep providerReport, want providerExpect) {
	t.Helper()
	require.Equal(t, "completed", rep.Job.Status, rep.Job.Error)
	require.Equal(t, "13/13", rep.Job.Progress)
	require.Equal(t, string(p), rep.Job.Provider)
	require.Len(t, rep.Sections, 13)
	for _, s := range rep.Sections {
		require.Equal(t, "completed", s.Status, "%s: %s", s.Key, s.Error)
		require.Equal(t, string(p), s.Provider, s.Key)
		require.Equal(t, want.model, s.Model, s.Key)
		require.Equal(t, 1, s.Attempts, s.Key)
		answer := providerfake.ValidAnswer(s.Key)
		require.Equal(t, answer.Summary, s.Summary, s.Key)
		require.Equal(t, "found", s.Outcome, s.Key)
		// Ungrounded answers have no sources, so their confidence is capped at low.
		require.Equal(t, map[bool]string{true: "high", false: "low"}[want.grounded], s.Confidence, s.Key)
		require.Equal(t, answer.VerifyWith, s.VerifyWith, s.Key)
		require.Equal(t, want.grounded, s.Grounded, s.Key)
		require.Equal(t, !want.grounded, s.NeedsVerification, "%s: ungrounded answers need verification", s.Key)
		if want.sources == nil {
			require.Empty(t, s.Sources, s.Key)
		} else {
			require.Equal(t, want.sources, s.Sources, s.Key)
		}
		ids := want.otherIDs
		if s.Key == "jurisdiction" {
			ids = want.jurisdictionIDs
		}
		require.Len(t, s.Findings, len(answer.Findings), s.Key)
		for i, f := range s.Findings {
			require.Equal(t, answer.Findings[i].Label, f.Label, s.Key)
			require.Equal(t, answer.Findings[i].Value, f.Value, s.Key)
			require.Equal(t, answer.Findings[i].CodeReference, f.CodeReference, s.Key)
			require.Equal(t, ids[i], f.SourceIDs, "%s finding %d: source ids", s.Key, i)
			require.Equal(t, answer.Findings[i].Quote, f.Quote, s.Key)
			require.Equal(t, want.grounded, f.Supported, "%s finding %d: grounded findings quoting their sources are supported", s.Key, i)
		}
		require.Equal(t, int64(providerfake.InputTokens), s.Usage.InputTokens, s.Key)
		require.Equal(t, int64(providerfake.OutputTokens), s.Usage.OutputTokens, s.Key)
		requireCost(t, want.cost, 1, s.Usage.CostUSD, s.Key)
	}
	require.Equal(t, int64(13*providerfake.InputTokens), rep.Usage.InputTokens)
	require.Equal(t, int64(13*providerfake.OutputTokens), rep.Usage.OutputTokens)
	requireCost(t, want.cost, 13, rep.Usage.CostUSD, "report total")
}

// tableCost is what the shipped price table charges for one call of the
// fakes' usage: their tokens and searches web searches.
func tableCost(provider, model string, searches int64) *float64 {
	c, ok := app.DefaultPrices().Cost(provider, model, domain.Usage{InputTokens: providerfake.InputTokens,
		OutputTokens: providerfake.OutputTokens, SearchCalls: searches})
	if !ok || c <= 0 {
		panic("no price for " + provider + " " + model)
	}
	return &c
}

func requireCost(t *testing.T, perCall *float64, calls int, got *float64, what string) {
	t.Helper()
	if perCall == nil {
		require.Nil(t, got, "%s: the provider reports no cost", what)
		return
	}
	require.NotNil(t, got, "%s: cost", what)
	require.InDelta(t, *perCall*float64(calls), *got, 1e-9, what)
}

// TestRetryHonoursRetryAfter: a section whose first call is rate limited
// (Retry-After, or Gemini's RetryInfo) and whose second meets a 503 still
// completes, and the retry after the 429 waited at least the server's delay.
// The delay is 2s because the worker's own first backoff can reach 1s: a
// 1s Retry-After could not tell honouring it from ignoring it.
func TestRetryHonoursRetryAfter(t *testing.T) {
	const retryAfter = 2 * time.Second
	for _, p := range allProviders {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, p, func(c providerfake.Call) providerfake.Reply {
				if c.Section != "zoning_use" {
					return providerfake.Reply{}
				}
				switch c.Try {
				case 1:
					return providerfake.Reply{Status: 429, RetryAfter: retryAfter, Message: "Rate limit reached for requests"}
				case 2:
					return providerfake.Reply{Status: 503, Message: "The service is temporarily overloaded."}
				}
				return providerfake.Reply{}
			})
			env, _ := providerEnv(t, srv, providerKey, "CODECHECK_SECTION_CONCURRENCY=1")
			r, rep := checkReport(t, env, p, "--sections", "zoning_use")
			require.Equal(t, 0, r.code, r.stderr)
			require.Equal(t, "completed", rep.Job.Status, rep.Job.Error)
			require.Equal(t, "2/2", rep.Job.Progress)

			calls := srv.CallsFor("zoning_use")
			require.Equal(t, 3, len(calls), "429, 503, then success: three calls")
			require.Equal(t, []int{429, 503, 200}, []int{calls[0].Status, calls[1].Status, calls[2].Status})
			afterRateLimit := calls[1].Received.Sub(calls[0].Answered)
			require.GreaterOrEqual(t, afterRateLimit, retryAfter, "the retry after the 429 ignored its delay")
			// No Retry-After on the 503: the worker's own backoff applies
			// (at least half its 1s base).
			require.GreaterOrEqual(t, calls[2].Received.Sub(calls[1].Answered), 500*time.Millisecond, "no backoff after the 503")
			require.Equal(t, 1, len(srv.CallsFor("jurisdiction")))
			require.Equal(t, 4, len(srv.Calls()))

			s := rep.section(t, "zoning_use")
			require.Equal(t, "completed", s.Status)
			require.Equal(t, 3, s.Attempts, "provider calls for the section")
			require.Equal(t, int64(providerfake.InputTokens), s.Usage.InputTokens, "failed calls cost no tokens")
		})
	}
}

// TestAuthFailureFailsFast: a key the provider refuses fails the check with
// exit 1 and a message naming the provider and the variable to fix; no
// section retries it, and the key is never printed or stored.
func TestAuthFailureFailsFast(t *testing.T) {
	for _, p := range allProviders {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			// The server accepts another key, so it refuses providerKey the
			// provider's way: 401 (Gemini: 400 API_KEY_INVALID), quoting the
			// key where the provider would.
			srv := providerfake.Start(t, p, providerfake.Options{Key: "the-only-valid-key"})
			env, dataDir := providerEnv(t, srv, providerKey)
			r, rep := checkReport(t, env, p)
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, string(p))
			require.Contains(t, r.stderr, keyEnvVar(p))
			requireNoKeyInFiles(t, dataDir)

			// One request: the rejected key is not retried, and the other
			// twelve sections, which would get the same answer, are not sent.
			calls := srv.Calls()
			require.Len(t, calls, 1)
			require.Equal(t, "jurisdiction", calls[0].Section)
			require.Equal(t, providerKey, calls[0].Key)
			require.False(t, calls[0].Success)

			require.Equal(t, "failed", rep.Job.Status)
			require.Equal(t, "0/13", rep.Job.Progress)
			for _, s := range rep.Sections {
				require.Equal(t, "failed", s.Status, s.Key)
				require.Contains(t, s.Error, keyEnvVar(p), s.Key)
				if s.Key == "jurisdiction" {
					require.Equal(t, 1, s.Attempts)
				} else {
					require.Equal(t, 0, s.Attempts, "%s was not sent", s.Key)
				}
			}
		})
	}
}

// TestRepairInvalidAnswer: an unusable answer is asked for once more, with
// the problem and the previous answer; a usable second answer completes the
// section, an unusable one fails it with the problem named and fails the job.
func TestRepairInvalidAnswer(t *testing.T) {
	const cut = `{"summary": "The parcel is zoned R-1-8 Single-Family Residence.", "outcome": "found", "confidence": `
	const prose = "I could not find the zoning district for this address."
	badOutcome := providerfake.ValidAnswer("zoning_use")
	badOutcome.Outcome = "probably"

	for _, p := range allProviders {
		t.Run(string(p)+"/once", func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, p, func(c providerfake.Call) providerfake.Reply {
				if c.Section == "zoning_use" && c.Try == 1 {
					return providerfake.Reply{Content: cut}
				}
				return providerfake.Reply{}
			})
			env, _ := providerEnv(t, srv, providerKey)
			r, rep := checkReport(t, env, p, "--sections", "zoning_use")
			require.Equal(t, 0, r.code, r.stderr)
			require.Equal(t, "completed", rep.Job.Status, rep.Job.Error)

			calls := srv.CallsFor("zoning_use")
			require.Equal(t, 2, len(calls))
			require.False(t, calls[0].Repair)
			require.True(t, calls[1].Repair, "the second call asks to repair the answer")
			require.Contains(t, calls[1].User, strings.TrimSpace(cut), "the repair prompt quotes the unusable answer")
			require.Regexp(t, `could not be used: \S`, calls[1].User, "the repair prompt names the problem")
			require.Equal(t, checkAddress, calls[1].Address)
			require.True(t, calls[1].HasJurisdiction)

			s := rep.section(t, "zoning_use")
			require.Equal(t, "completed", s.Status)
			require.Equal(t, providerfake.ValidAnswer("zoning_use").Summary, s.Summary)
			require.Equal(t, 2, s.Attempts)
			require.Equal(t, int64(2*providerfake.InputTokens), s.Usage.InputTokens, "both calls are billed")
		})

		t.Run(string(p)+"/twice", func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, p, func(c providerfake.Call) providerfake.Reply {
				switch {
				case c.Section != "zoning_use":
					return providerfake.Reply{}
				case c.Repair:
					return providerfake.Reply{Content: mustMarshal(t, badOutcome)}
				default:
					return providerfake.Reply{Content: prose}
				}
			})
			env, _ := providerEnv(t, srv, providerKey)
			r, rep := checkReport(t, env, p, "--sections", "zoning_use")
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, "zoning_use (")
			require.Contains(t, r.stderr, `outcome "probably"`)

			calls := srv.CallsFor("zoning_use")
			require.Equal(t, 2, len(calls), "one repair attempt, no more")
			require.True(t, calls[1].Repair)
			require.Contains(t, calls[1].User, prose)

			require.Equal(t, "failed", rep.Job.Status)
			require.Equal(t, "1/2", rep.Job.Progress)
			require.Contains(t, rep.Job.Error, "zoning_use")
			require.Equal(t, "completed", rep.section(t, "jurisdiction").Status)
			s := rep.section(t, "zoning_use")
			require.Equal(t, "failed", s.Status)
			require.Contains(t, s.Error, "repair")
			require.Contains(t, s.Error, `outcome "probably" is not one of`)
			require.Equal(t, 2, s.Attempts)
		})
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestOpenAIModelThatCannotSearch: an OPENAI_MODEL without the web_search
// tool is refused before any call, with a line naming the setting; with
// CODECHECK_OPENAI_ALLOW_UNGROUNDED=1 it runs without search, and every
// section is ungrounded, its findings without references.
func TestOpenAIModelThatCannotSearch(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		srv := startFake(t, providerfake.OpenAI, nil)
		env, _ := providerEnv(t, srv, providerKey, "OPENAI_MODEL=gpt-4.1-nano")
		r, _ := checkReport(t, env, providerfake.OpenAI)
		require.NotEqual(t, 0, r.code)
		require.Contains(t, r.stderr, "OPENAI_MODEL")
		require.Contains(t, r.stderr, "CODECHECK_OPENAI_ALLOW_UNGROUNDED=1")
		require.Empty(t, srv.Calls())
	})
	t.Run("allowed ungrounded", func(t *testing.T) {
		t.Parallel()
		want := providerExpect{model: "gpt-4.1-nano", search: false, grounded: false,
			jurisdictionIDs: [][]int{nil, nil}, otherIDs: [][]int{nil}, cost: tableCost("openai", "gpt-4.1-nano", 0)}
		srv := startFake(t, providerfake.OpenAI, nil)
		env, _ := providerEnv(t, srv, providerKey, "OPENAI_MODEL=gpt-4.1-nano", "CODECHECK_OPENAI_ALLOW_UNGROUNDED=1")
		r, rep := checkReport(t, env, providerfake.OpenAI)
		require.Equal(t, 0, r.code, r.stderr)
		requireRequests(t, srv.Calls(), want)
		requireFullReport(t, providerfake.OpenAI, rep, want)
	})
}
