// Package providerfake serves local stand-ins for the LLM providers' HTTP
// APIs (Perplexity's Agent API, OpenAI's Responses API, Gemini
// generateContent) for end-to-end tests of the built binary.
//
// Each Server speaks one provider's documented wire format, records every
// request as a Call (what the binary sent, parsed the provider's way), and
// answers as the test's Script says: a valid section answer, a malformed
// one, or an error in the provider's own envelope. It never decides whether
// the binary behaved; tests assert on the recorded calls. Requests that break
// the provider's documented API are answered the way the provider would (a
// 400) and listed in Call.Problems.
//
// The wire formats are exported too (Provider.Decode, Success, Truncated,
// Failure, AuthFailure, PerplexityRun, OpenAIResponse), so the LLM adapters' own tests
// script their servers with the same model of each API as the end-to-end
// tests.
package providerfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// Provider names a wire format.
type Provider string

// The providers a Server can speak.
const (
	Perplexity Provider = "perplexity"
	OpenAI     Provider = "openai"
	Gemini     Provider = "gemini"
)

// Usage every successful answer reports: tokens for all providers, a cost
// only where the provider reports one (Perplexity). The cost is a binary
// fraction so sums are exact.
const (
	InputTokens  = 1200
	OutputTokens = 345
	CostUSD      = 0.015625
)

// Call is one request as the fake understood it.
type Call struct {
	N       int    // 1-based arrival order on this server
	Section string // section key read from the prompt ("Section N of 13: ..."), "" if none
	Try     int    // 1-based number of this call among the calls for Section
	Repair  bool   // the prompt asks again after an unusable answer
	// Verify: the call verifies Section's findings ("Verification of
	// section N of 13: ..."); Findings is how many it lists.
	Verify   bool
	Findings int
	// PageTool: the provider's page-reading tool was enabled (Gemini's
	// urlContext, Perplexity's fetch_url; OpenAI's web_search opens pages
	// itself). ReadURLs are the pages the prompt lists under its
	// "Pages to read" heading, when the page tool is on.
	PageTool bool
	ReadURLs []string

	Method, Path string
	Key          string // the API key as sent (Bearer token or x-goog-api-key)
	Model        string
	System, User string // the system instructions and the user prompt
	// Roles are the roles of the input messages, in order, when OpenAI's
	// input is a list of messages rather than a string.
	Roles []string
	// Include is OpenAI's include list (OpenAISourcesInclude asks for the
	// search call's sources).
	Include []string
	// Schema is the JSON schema the answer was constrained to, sent the
	// provider's way: Perplexity's response_format, OpenAI's strict
	// text.format.
	// Nil otherwise; Gemini gets the schema inside System.
	Schema  json.RawMessage
	Address string // the text between <address> tags in User, "" if none
	// Jurisdiction is the text between <jurisdiction> tags in User;
	// HasJurisdiction tells an empty block from none.
	Jurisdiction    string
	HasJurisdiction bool
	SearchTool      bool // the provider's web search tool was requested
	// AllowedDomains are the domains the search was narrowed to, the
	// provider's way: OpenAI's web_search filters.allowed_domains,
	// Perplexity's web_search filters.search_domain_filter (allowlist),
	// Gemini's site: operators in the user prompt. Served sources are
	// limited to them and their subdomains.
	AllowedDomains []string
	SchemaOK       bool // the section answer schema was sent the provider's way
	// Problems lists the ways the request broke the provider's documented
	// API; such requests are answered 400.
	Problems []string

	Received time.Time // when the request arrived
	Answered time.Time // just before the response was written
	Status   int       // HTTP status of the response
	Success  bool      // a section answer was returned (HTTP 200)
}

// SchemaIs reports whether the request constrained the answer to the JSON
// schema want the provider's way (see Schema): the same JSON value.
func (c Call) SchemaIs(want json.RawMessage) bool {
	var got, w any
	return json.Unmarshal(c.Schema, &got) == nil && json.Unmarshal(want, &w) == nil && reflect.DeepEqual(got, w)
}

// Reply is what the server answers to one call.
type Reply struct {
	// Status is the HTTP status; 0 or 200 answers with Content.
	Status int
	// RetryAfter, for an error status, is sent the provider's way
	// (Retry-After header; Gemini: a google.rpc.RetryInfo detail).
	RetryAfter time.Duration
	// Message is the error message for an error status.
	Message string
	// Code is the error code for an error status where the provider's
	// envelope has one (OpenAI: "model_not_found", "insufficient_quota");
	// empty means the provider's code for Status.
	Code string
	// Content is the answer text; empty means the valid answer for the
	// call's section (ValidAnswer).
	Content string
	// Sources, when not nil, are the search results served instead of
	// Sources(); still limited to the call's AllowedDomains.
	Sources []Source
}

// Script decides the reply to a call. It runs on the server's goroutines.
type Script func(c Call) Reply

// Options configure a Server.
type Options struct {
	// Key is the API key the server accepts; a request with another key
	// gets the provider's authentication error.
	Key string
	// Script answers calls with an accepted key; nil answers every call
	// with the valid answer for its section.
	Script Script
}

// Server is a running fake provider.
type Server struct {
	// URL is the base URL to configure the binary with (*_BASE_URL).
	URL string

	provider Provider
	wire     wire
	opts     Options
	srv      *httptest.Server

	mu    sync.Mutex
	calls []Call
	tries map[string]int
}

// Start starts a fake for provider; it is closed when the test ends.
func Start(t testing.TB, provider Provider, opts Options) *Server {
	t.Helper()
	if opts.Key == "" {
		t.Fatal("providerfake: Options.Key is required")
	}
	w, ok := wires[provider]
	if !ok {
		t.Fatalf("providerfake: unknown provider %q", provider)
	}
	s := &Server{provider: provider, wire: w, opts: opts, tries: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	if provider == OpenAI {
		s.URL += "/v1" // OpenAI base URLs include the API version
	}
	return s
}

// Env returns the variables that point the binary at this server with key:
// the provider's *_API_KEY and *_BASE_URL.
func (s *Server) Env(key string) []string {
	prefix := strings.ToUpper(string(s.provider))
	return []string{prefix + "_API_KEY=" + key, prefix + "_BASE_URL=" + s.URL}
}

// Calls returns the calls received so far, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	copy(out, s.calls)
	return out
}

// CallsFor returns the calls for one section, in arrival order.
func (s *Server) CallsFor(section string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Section == section {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	c := s.provider.Decode(r, body)
	if err != nil {
		c.Problems = append(c.Problems, "reading body: "+err.Error())
	}

	s.mu.Lock()
	s.tries[c.Section]++
	c.Try = s.tries[c.Section]
	c.N = len(s.calls) + 1
	idx := len(s.calls)
	s.calls = append(s.calls, c)
	s.mu.Unlock()

	status, payload := s.respond(w.Header(), c)

	s.mu.Lock()
	s.calls[idx].Status = status
	s.calls[idx].Success = status == http.StatusOK
	s.calls[idx].Answered = time.Now()
	s.mu.Unlock()

	w.WriteHeader(status)
	_, _ = w.Write(payload)
}

func (s *Server) respond(h http.Header, c Call) (int, []byte) {
	h.Set("Content-Type", "application/json")
	if c.Key != s.opts.Key {
		return s.wire.authFailure(c.Key)
	}
	if len(c.Problems) > 0 {
		return http.StatusBadRequest, s.wire.failure(h, Reply{Status: http.StatusBadRequest,
			Message: "invalid request: " + strings.Join(c.Problems, "; ")})
	}
	reply := Reply{}
	if s.opts.Script != nil {
		reply = s.opts.Script(c)
	}
	if reply.Status != 0 && reply.Status != http.StatusOK {
		return reply.Status, s.wire.failure(h, reply)
	}
	content := reply.Content
	switch {
	case content == "" && c.Verify:
		content = mustJSON(ValidVerdicts(c.Findings))
	case content == "":
		content = mustJSON(ValidAnswer(c.Section))
	}
	cost := CostUSD
	served := Sources()
	if reply.Sources != nil {
		served = reply.Sources
	}
	return http.StatusOK, s.wire.success(Completion{Model: c.Model, Content: content,
		Sources: s.wire.cite(c, onDomains(served, c.AllowedDomains)),
		Usage:   domain.Usage{InputTokens: InputTokens, OutputTokens: OutputTokens, CostUSD: &cost}}, false)
}

var (
	sectionLine  = regexp.MustCompile(`^Section (\d+) of 13: `)
	verifyLine   = regexp.MustCompile(`^Verification of section (\d+) of 13: `)
	findingLine  = regexp.MustCompile(`(?m)^Finding \d+: `)
	pagesHeading = "Pages to read in full before answering"
	pageLine     = regexp.MustCompile(`^- (https?://\S+)$`)
	addressBlock = regexp.MustCompile(`(?s)<address>\n(.*?)\n</address>`)
	jurisBlock   = regexp.MustCompile(`(?s)<jurisdiction>\n(.*?)\n</jurisdiction>`)
)

// readPrompt fills what the fake reads from the user prompt.
func readPrompt(c *Call) {
	m := sectionLine.FindStringSubmatch(c.User)
	if v := verifyLine.FindStringSubmatch(c.User); v != nil {
		m, c.Verify, c.Findings = v, true, len(findingLine.FindAllString(c.User, -1))
	}
	if m != nil {
		n, _ := strconv.Atoi(m[1])
		if cat := domain.Catalogue(); n >= 1 && n <= len(cat) {
			c.Section = cat[n-1].Key
		}
	}
	if _, list, ok := strings.Cut(c.User, pagesHeading); ok && c.PageTool {
		for _, line := range strings.Split(list, "\n")[1:] {
			if p := pageLine.FindStringSubmatch(strings.TrimSpace(line)); p != nil {
				c.ReadURLs = append(c.ReadURLs, p[1])
			} else if strings.TrimSpace(line) != "" {
				break
			}
		}
	}
	if m := addressBlock.FindStringSubmatch(c.User); m != nil {
		c.Address = m[1]
	}
	if m := jurisBlock.FindStringSubmatch(c.User); m != nil {
		c.Jurisdiction, c.HasJurisdiction = m[1], true
	}
	c.Repair = strings.Contains(c.User, "previous answer could not be used")
}

// Answer is a section answer in the app's JSON answer schema.
type Answer struct {
	Summary           string    `json:"summary"`
	Outcome           string    `json:"outcome"`
	Confidence        string    `json:"confidence"`
	ConfidenceReason  string    `json:"confidence_reason"`
	Findings          []Finding `json:"findings"`
	NeedsVerification bool      `json:"needs_verification"`
	VerifyWith        string    `json:"verify_with"`
}

// Finding is one finding of an Answer.
type Finding struct {
	Label         string `json:"label"`
	Value         string `json:"value"`
	CodeReference string `json:"code_reference"`
	SourceIDs     []int  `json:"source_ids"`
	// Quote is found in the snippet of a cited source (see Sources).
	Quote         string  `json:"quote"`
	CodeEdition   *string `json:"code_edition"`
	EffectiveDate *string `json:"effective_date"`
}

// Verdicts is a verification answer in the app's verification schema.
type Verdicts struct {
	Verdicts []Verdict `json:"verdicts"`
}

// Verdict is one finding's verdict; SourceID is null unless contradicted.
type Verdict struct {
	Finding  int    `json:"finding"`
	Verdict  string `json:"verdict"`
	SourceID *int   `json:"source_id"`
	Quote    string `json:"quote"`
	Note     string `json:"note"`
}

// ValidVerdicts is the verification answer the server gives when the
// script does not say otherwise: each of n findings verified.
func ValidVerdicts(n int) Verdicts {
	v := Verdicts{Verdicts: []Verdict{}}
	for i := 1; i <= n; i++ {
		v.Verdicts = append(v.Verdicts, Verdict{Finding: i, Verdict: "verified", Note: "stated on the cited page"})
	}
	return v
}

// Contradicted is a verdict that source (1-based, as the app numbered
// the section's sources) contradicts finding n with quote.
func Contradicted(n, source int, quote string) Verdict {
	return Verdict{Finding: n, Verdict: "contradicted", SourceID: &source, Quote: quote, Note: "the page says otherwise"}
}

// JurisdictionSummary is the summary of the jurisdiction answer; the other
// sections' prompts should carry it.
const JurisdictionSummary = "The parcel (APN 467-20-078) is in the incorporated City of San Jose, Santa Clara County; " +
	"the City's Planning, Building and Code Enforcement department is the authority having jurisdiction."

// ValidAnswer is the answer the server gives for section when the script
// does not say otherwise. Its findings cite search results by the numbers
// Sources has: 3 repeats 1 (same page, other spelling of the URL).
func ValidAnswer(section string) Answer {
	if section == domain.JurisdictionKey {
		return Answer{
			Summary: JurisdictionSummary, Outcome: "found", Confidence: "high",
			ConfidenceReason: "Stated on the city's own site.",
			Findings: []Finding{
				{Label: "Jurisdiction", Value: "City of San Jose (incorporated)", SourceIDs: []int{1}, Quote: "PBCE reviews development"},
				{Label: "Building office", Value: "City of San Jose Building Division", CodeReference: "SJMC 24.02.100", SourceIDs: []int{2, 3},
					Quote: "Title 20 zoning"},
			},
			VerifyWith: "City of San Jose Permit Center",
		}
	}
	return Answer{
		Summary: "Fake research result for the " + section + " section.", Outcome: "found", Confidence: "high",
		ConfidenceReason: "Taken from the municipal code.",
		Findings: []Finding{
			{Label: "Rule for " + section, Value: "42 ft", CodeReference: "SJMC 20.30.100", SourceIDs: []int{3, 4},
				Quote: "Setbacks for detached ADUs"},
		},
		VerifyWith: "City of San Jose Planning Division",
	}
}

// Source is a web search result the server returns with every answer.
type Source struct{ URL, Title, Snippet string }

// Sources are the search results of every grounded answer, in the order
// served: 1 and 3 are the same page (the agent should keep one), 1 and 2
// are official publishers, 4 is not.
func Sources() []Source {
	return []Source{
		{URL: "https://www.sanjoseca.gov/your-government/departments/planning-building-code-enforcement",
			Title: "Planning, Building and Code Enforcement | City of San Jose", Snippet: "PBCE reviews development..."},
		{URL: "https://library.municode.com/ca/san_jose/codes/code_of_ordinances",
			Title: "San Jose Municipal Code", Snippet: "Title 20 ZONING..."},
		{URL: "https://sanjoseca.gov/your-government/departments/planning-building-code-enforcement/",
			Title: "PBCE - City of San Jose", Snippet: "Planning Division..."},
		{URL: "https://www.adu-guide-blog.example.com/san-jose", Title: "A homeowner's guide to San Jose ADUs",
			Snippet: "Setbacks for detached ADUs..."},
	}
}

// onDomains keeps the sources on domains or their subdomains; all of them
// when domains is empty.
func onDomains(sources []Source, domains []string) []Source {
	if len(domains) == 0 {
		return sources
	}
	var out []Source
	for _, s := range sources {
		if domain.HostIn(s.URL, domains) {
			out = append(out, s)
		}
	}
	return out
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("providerfake: %v", err))
	}
	return string(b)
}
