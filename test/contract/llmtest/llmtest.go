// Package llmtest is the contract every ports.LLM must pass: the Perplexity,
// OpenAI and Gemini adapters and the fake provider.
//
// The generic cases (name, a parseable answer, sources when grounded, a
// canceled context) run against every provider. The wire cases run only when
// the provider supplies a Wire: then each case starts a local httptest
// server, scripts its answer in the provider's own wire format through the
// Wire, points the adapter at it and checks both the classified result and
// the request the adapter sent. Each adapter's _test.go supplies its Wire
// (built on test/providerfake's model of the provider's API); the assertions
// live here.
package llmtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Key is the API key the suite hands to adapters. It is distinctive so a
// leak into any error string is easy to spot.
const Key = "llmtest-SECRET-key-7f3a9c21d4e8b605"

// Model is the model name the suite configures adapters with.
const Model = "llmtest-model-1"

// Markers the suite puts in the prompts; the request an adapter sends must
// carry both.
const (
	SystemMarker = "SYSTEM-MARKER-5d1e: you research building codes."
	UserMarker   = "USER-MARKER-9b2c: <address>1 Main St, Springfield</address>"
)

// Schema is the JSON schema the suite asks for.
var Schema = json.RawMessage(`{"type":"object","properties":{"summary":{"type":"string"}},"required":["summary"],"additionalProperties":false}`)

// Server is what a provider's factory gets to point its adapter at. For a
// provider without a Wire it is the zero value.
type Server struct {
	URL        string // root URL of the local server, no trailing slash
	APIKey     string
	Model      string
	Timeout    time.Duration // per-request timeout the adapter must apply
	HTTPClient *http.Client  // closed with the server; use it so no connection leaks
}

// Answer is a provider answer the Wire renders.
type Answer struct {
	Model   string
	Content string
	Sources []domain.Source
	Usage   domain.Usage
}

// CapturedRequest is what a Wire decodes from the request an adapter sent.
type CapturedRequest struct {
	Method string
	Path   string
	// Auth is the credential the request carried, with its scheme if any,
	// e.g. "Bearer KEY" or just "KEY" for x-goog-api-key.
	Auth          string
	Model         string
	HasSchema     bool   // the JSON schema (or an instruction carrying it) is present
	HasSearchTool bool   // a web-search tool was requested
	Prompt        string // all prompt text sent (system and user), concatenated
	// AllowedDomains are the domains the web search was narrowed to, read
	// the provider's way (a filter field, or site: operators in the prompt).
	AllowedDomains []string
	// ReadURLs are the pages the request asks the provider to read, read
	// the provider's way: its page-reading tool enabled (Gemini's
	// urlContext, Perplexity's fetch_url, OpenAI's web_search, whose
	// open_page action reads pages) and the URLs named in the prompt.
	// Empty when no page tool is enabled.
	ReadURLs []string
}

// Wire encodes one provider's HTTP protocol for the fake server.
type Wire interface {
	// RenderSuccess encodes a finished answer. The body is sent with the
	// returned status and Content-Type application/json.
	RenderSuccess(a Answer) (status int, body []byte)
	// RenderTruncated encodes an answer cut short by the output-token limit.
	RenderTruncated(a Answer) (status int, body []byte)
	// RenderError encodes the provider's JSON error envelope.
	RenderError(status int, message string) []byte
	// DecodeRequest reads the request the adapter sent. It runs on the
	// server's goroutine: report problems with t.Errorf, never require.
	DecodeRequest(t *testing.T, r *http.Request, body []byte) CapturedRequest
}

// RunFailureWire is implemented by providers that report failed runs inside
// an HTTP 200 body (Perplexity's Agent API: status "failed" or "cancelled").
type RunFailureWire interface {
	RenderRunFailure(status, message string) (httpStatus int, body []byte)
}

// Expect is what every request an adapter sends must look like.
type Expect struct {
	Path       string // e.g. "/v1/agent"
	Auth       string // e.g. "Bearer " + Key
	SearchTool bool   // a web-search tool must be requested
}

// Capabilities says which behaviours the provider's answers have.
type Capabilities struct {
	// Grounded: a successful answer comes with web sources and Grounded set.
	Grounded bool
	// Cost: the provider reports the cost of a call in USD.
	Cost bool
	// Snippets: sources carry snippets.
	Snippets bool
}

// Provider describes the adapter under test.
type Provider struct {
	Name string // what Name() must return
	// Model is the model the suite configures; default the Model constant.
	// A provider can run the suite twice, e.g. with and without a
	// search-capable model.
	Model string
	// New builds the adapter under test for one case.
	New  func(t *testing.T, srv Server) ports.LLM
	Caps Capabilities
	// Wire is nil for providers that make no HTTP calls (the fake): the wire
	// cases are skipped.
	Wire Wire
	// Expect, KeyEnvVar and ModelEnvVar are required with a Wire.
	Expect      Expect
	KeyEnvVar   string // named by authentication errors
	ModelEnvVar string // named by unknown-model errors
}

func (p Provider) model() string { return cmp.Or(p.Model, Model) }

// Request returns the section request the suite sends.
func Request() ports.SectionRequest {
	spec, _ := domain.LookupSection("zoning_use")
	return ports.SectionRequest{
		JobID: "job-llmtest", Attempt: 1, Section: spec,
		Address: "1 Main St, Springfield", System: SystemMarker, User: UserMarker,
		Schema: Schema, SchemaName: "section_result",
	}
}

// Exercise runs the LLM contract against p.
func Exercise(t *testing.T, p Provider) {
	t.Run("Generic", func(t *testing.T) { exerciseGeneric(t, p) })
	t.Run("Wire", func(t *testing.T) {
		if p.Wire == nil {
			t.Skip("provider has no wire protocol")
		}
		require.NotEmpty(t, p.KeyEnvVar)
		require.NotEmpty(t, p.ModelEnvVar)
		exerciseWire(t, p)
	})
}

func exerciseGeneric(t *testing.T, p Provider) {
	t.Run("NameAndModel", func(t *testing.T) {
		llm := newGeneric(t, p)
		require.Equal(t, p.Name, llm.Name())
		require.NotEmpty(t, llm.Model())
	})
	t.Run("AnswerIsParseableJSON", func(t *testing.T) {
		llm := newGeneric(t, p)
		resp, err := llm.Research(context.Background(), Request())
		require.NoError(t, err)
		require.True(t, json.Valid([]byte(resp.Content)), "content is not JSON: %q", resp.Content)
		require.NotEmpty(t, resp.Model)
		require.False(t, resp.Truncated)
		if p.Caps.Grounded {
			require.True(t, resp.Grounded)
		}
		if resp.Grounded {
			require.NotEmpty(t, resp.Sources, "a grounded answer has sources")
		}
		requireNumbered(t, resp.Sources)
	})
	t.Run("CanceledContext", func(t *testing.T) {
		llm := newGeneric(t, p)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := llm.Research(ctx, Request())
		requireProviderError(t, p, err)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// newGeneric builds the provider for a generic case: with a Wire it gets a
// server that answers every request with a grounded success.
func newGeneric(t *testing.T, p Provider) ports.LLM {
	if p.Wire == nil {
		return p.New(t, Server{})
	}
	f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
		status, body := p.Wire.RenderSuccess(sampleAnswer(p))
		writeJSON(w, status, body)
	})
	return f.llm
}

func exerciseWire(t *testing.T, p Provider) {
	t.Run("SuccessWithSources", func(t *testing.T) { successWithSources(t, p) })
	t.Run("FindingsMappedToSources", func(t *testing.T) { findingsMappedToSources(t, p) })
	t.Run("DomainFilterSent", func(t *testing.T) { domainFilterSent(t, p) })
	t.Run("ReadURLsSent", func(t *testing.T) { readURLsSent(t, p) })
	t.Run("RateLimitedWithRetryAfter", func(t *testing.T) {
		f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			writeJSON(w, http.StatusTooManyRequests, p.Wire.RenderError(http.StatusTooManyRequests, "rate limit exceeded"))
		})
		pe := f.researchErr(t)
		require.True(t, pe.Retryable)
		require.Equal(t, 7*time.Second, pe.RetryAfter)
		require.Equal(t, http.StatusTooManyRequests, pe.StatusCode)
	})
	t.Run("ConcurrentCallsAreIndependent", func(t *testing.T) {
		// Each response carries its own Retry-After; every caller must get
		// the one of its own response, never a neighbour's.
		const n = 8
		var mu sync.Mutex
		served := 0
		f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			served++
			w.Header().Set("Retry-After", strconv.Itoa(served))
			mu.Unlock()
			writeJSON(w, http.StatusTooManyRequests, p.Wire.RenderError(http.StatusTooManyRequests, "slow down"))
		})
		delays := make(chan time.Duration, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.llm.Research(context.Background(), Request())
				var pe *ports.ProviderError
				if errors.As(err, &pe) {
					delays <- pe.RetryAfter
				}
			}()
		}
		wg.Wait()
		close(delays)
		seen := map[time.Duration]bool{}
		for d := range delays {
			seen[d] = true
		}
		require.Len(t, seen, n, "each call saw its own response")
		for i := 1; i <= n; i++ {
			require.True(t, seen[time.Duration(i)*time.Second], "Retry-After %d reached a caller", i)
		}
	})
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run("ServerError"+http.StatusText(status), func(t *testing.T) {
			f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, status, p.Wire.RenderError(status, "upstream trouble"))
			})
			pe := f.researchErr(t)
			require.True(t, pe.Retryable)
			require.Equal(t, status, pe.StatusCode)
		})
	}
	t.Run("HTMLBadGatewayPage", func(t *testing.T) {
		f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, htmlPage)
		})
		pe := f.researchErr(t)
		require.True(t, pe.Retryable)
		require.Equal(t, http.StatusBadGateway, pe.StatusCode)
		msg := strings.ToLower(pe.Error())
		require.NotContains(t, msg, "<html")
		require.NotContains(t, msg, "nginx-fingerprint")
		require.Less(t, len(msg), 400, "message is short: %q", msg)
	})
	t.Run("MalformedJSONIsRetryable", func(t *testing.T) {
		// A garbled 200 body is most often a proxy or connection fault, so
		// the contract calls it retryable; the agent caps attempts anyway.
		f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, []byte(`{"id": "resp_1", "output": [ {"type": `))
		})
		pe := f.researchErr(t)
		require.True(t, pe.Retryable)
	})
	t.Run("SlowResponseTimesOut", func(t *testing.T) {
		release := make(chan struct{})
		f := startFake(t, p, 150*time.Millisecond, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) }) // runs before the server closes
		pe := f.researchErr(t)
		require.True(t, pe.Retryable)
		require.Contains(t, strings.ToLower(pe.Error()), "timed out")
	})
	t.Run("CallerCancelsMidRequest", func(t *testing.T) {
		started, release := make(chan struct{}), make(chan struct{})
		f := startFake(t, p, 0, func(w http.ResponseWriter, r *http.Request) {
			close(started)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) })
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-started
			cancel()
		}()
		_, err := f.llm.Research(ctx, Request())
		pe := requireProviderError(t, p, err)
		f.requireRequest(t)
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, pe.Retryable, "the caller gave up: not a provider failure to retry")
	})
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run("Auth"+http.StatusText(status), func(t *testing.T) {
			f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
				writeJSON(w, status, p.Wire.RenderError(status, "invalid api key"))
			})
			pe := f.researchErr(t)
			require.False(t, pe.Retryable)
			require.Equal(t, p.KeyEnvVar, pe.EnvVar)
			require.Contains(t, strings.ToLower(pe.Message), "key")
		})
	}
	t.Run("UnknownModel", func(t *testing.T) {
		f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusNotFound, p.Wire.RenderError(http.StatusNotFound, "model not found"))
		})
		pe := f.researchErr(t)
		require.False(t, pe.Retryable)
		require.Equal(t, p.ModelEnvVar, pe.EnvVar)
	})
	t.Run("BadRequestIsPermanent", func(t *testing.T) {
		// Perplexity answers an unknown request field this way.
		f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusBadRequest, p.Wire.RenderError(http.StatusBadRequest, "Unknown field 'frobnicate'"))
		})
		pe := f.researchErr(t)
		require.False(t, pe.Retryable)
		require.Equal(t, http.StatusBadRequest, pe.StatusCode)
		require.Contains(t, pe.Message, "frobnicate", "the provider's reason is kept")
	})
	t.Run("Truncated", func(t *testing.T) {
		a := sampleAnswer(p)
		a.Content = `{"summary": "cut sho`
		f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
			status, body := p.Wire.RenderTruncated(a)
			writeJSON(w, status, body)
		})
		resp, err := f.llm.Research(context.Background(), Request())
		require.NoError(t, err)
		f.requireRequest(t)
		require.True(t, resp.Truncated)
		require.Equal(t, a.Content, resp.Content)
	})
	if rw, ok := p.Wire.(RunFailureWire); ok {
		for _, status := range []string{"failed", "cancelled"} {
			t.Run("RunStatus_"+status, func(t *testing.T) {
				f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
					code, body := rw.RenderRunFailure(status, "the run broke: upstream model error")
					writeJSON(w, code, body)
				})
				pe := f.researchErr(t)
				require.Contains(t, pe.Message, "the run broke")
			})
		}
	}
}

func successWithSources(t *testing.T, p Provider) {
	a := sampleAnswer(p)
	f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
		status, body := p.Wire.RenderSuccess(a)
		writeJSON(w, status, body)
	})
	resp, err := f.llm.Research(context.Background(), Request())
	require.NoError(t, err)
	f.requireRequest(t)

	require.Equal(t, a.Content, resp.Content)
	require.NotEmpty(t, resp.Model)
	require.False(t, resp.Truncated)
	require.Equal(t, a.Usage.InputTokens, resp.Usage.InputTokens)
	require.Equal(t, a.Usage.OutputTokens, resp.Usage.OutputTokens)
	if p.Caps.Cost {
		require.NotNil(t, resp.Usage.CostUSD)
		require.InDelta(t, *a.Usage.CostUSD, *resp.Usage.CostUSD, 1e-9)
	} else {
		require.Nil(t, resp.Usage.CostUSD)
	}
	if !p.Caps.Grounded {
		require.False(t, resp.Grounded)
		require.Empty(t, resp.Sources)
		return
	}
	require.True(t, resp.Grounded)
	require.Len(t, resp.Sources, len(a.Sources))
	requireNumbered(t, resp.Sources)
	for i, s := range resp.Sources {
		require.Equal(t, a.Sources[i].URL, s.URL)
		require.Equal(t, a.Sources[i].Title, s.Title)
		if p.Caps.Snippets {
			require.Equal(t, a.Sources[i].Snippet, s.Snippet)
		}
	}
	require.True(t, resp.Sources[0].Official, "a .gov source is flagged official")
}

// findingsMappedToSources: an answer whose findings quote the sources they
// cite comes back with what the agent needs to check each quote against a
// cited source: the source's snippet, or a grounding span of the answer
// tied to that source (Gemini's groundingSupports, OpenAI's url_citation
// indices). Every span is text of the answer and names only sources of the
// response.
func findingsMappedToSources(t *testing.T, p Provider) {
	if !p.Caps.Grounded {
		t.Skip("the provider does not ground its answers")
	}
	a := sampleAnswer(p)
	a.Content = `{"summary":"R-1 zoning under Title 17.","findings":[` +
		`{"value":"R-1","quote":"District R-1 single-family","source_ids":[1]},` +
		`{"value":"Title 17 purpose","quote":"17.20.010 Purpose","source_ids":[2]}]}`
	a.Sources[0].Snippet = "Zoning map: District R-1 single-family residential."
	a.Sources[1].Snippet = "Chapter 17.20. 17.20.010 Purpose of the residential districts."
	f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
		status, body := p.Wire.RenderSuccess(a)
		writeJSON(w, status, body)
	})
	resp, err := f.llm.Research(context.Background(), Request())
	require.NoError(t, err)
	require.Equal(t, a.Content, resp.Content)

	ids := map[int]domain.Source{}
	for _, s := range resp.Sources {
		ids[s.ID] = s
	}
	for _, sp := range resp.Spans {
		require.Contains(t, resp.Content, sp.Text, "a span is text of the answer")
		require.NotEmpty(t, sp.SourceIDs)
		for _, id := range sp.SourceIDs {
			require.Contains(t, ids, id, "span %q names a source of the response", sp.Text)
		}
	}
	var answer struct {
		Findings []struct {
			Quote     string `json:"quote"`
			SourceIDs []int  `json:"source_ids"`
		} `json:"findings"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Content), &answer))
	for _, fd := range answer.Findings {
		require.True(t, evidenced(fd.Quote, fd.SourceIDs, ids, resp.Spans),
			"finding quoting %q: no snippet or span of its cited sources %v holds the quote (sources %+v, spans %+v)",
			fd.Quote, fd.SourceIDs, resp.Sources, resp.Spans)
	}
}

// evidenced reports whether quote is in the snippet of one of the cited
// sources, or in a span tied to one of them.
func evidenced(quote string, cited []int, sources map[int]domain.Source, spans []ports.GroundingSpan) bool {
	for _, id := range cited {
		if s, ok := sources[id]; ok && strings.Contains(s.Snippet, quote) {
			return true
		}
		for _, sp := range spans {
			if slices.Contains(sp.SourceIDs, id) && strings.Contains(sp.Text, quote) {
				return true
			}
		}
	}
	return false
}

// domainFilterSent: a request with AllowedDomains narrows the provider's web
// search to them; one without sends no filter.
func domainFilterSent(t *testing.T, p Provider) {
	if !p.Expect.SearchTool {
		t.Skip("the provider does not search: there is nothing to narrow")
	}
	req := Request()
	req.AllowedDomains = []string{"sfplanning.org", "sfdbi.org"}
	with, without := withAndWithout(t, p, req)
	require.Equal(t, req.AllowedDomains, with.AllowedDomains)
	require.True(t, with.HasSearchTool, "narrowed, the search still happens")
	require.Contains(t, with.Prompt, UserMarker)
	require.Empty(t, without.AllowedDomains, "no domains, no filter")
}

// withAndWithout sends req, then the plain Request(), to a provider that
// answers both with a success, and returns what each request carried.
func withAndWithout(t *testing.T, p Provider, req ports.SectionRequest) (with, without CapturedRequest) {
	t.Helper()
	a := sampleAnswer(p)
	f := startFake(t, p, 0, func(w http.ResponseWriter, _ *http.Request) {
		status, body := p.Wire.RenderSuccess(a)
		writeJSON(w, status, body)
	})
	_, err := f.llm.Research(context.Background(), req)
	require.NoError(t, err)
	_, err = f.llm.Research(context.Background(), Request())
	require.NoError(t, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.requests, 2)
	return f.requests[0], f.requests[1]
}

// readURLsSent: a request with ReadURLs has the provider read those pages
// its own way, search still on; one without names no pages.
func readURLsSent(t *testing.T, p Provider) {
	if !p.Expect.SearchTool {
		// Every provider that searches can read pages; one that does not
		// (an OpenAI model without web_search) judges by the snippets the
		// prompt carries.
		t.Skip("the provider does not search: it has no page tool")
	}
	req := Request()
	req.ReadURLs = []string{"https://www.springfield.gov/planning/zoning", "https://library.example-codes.com/springfield/title-17"}
	with, without := withAndWithout(t, p, req)
	require.Equal(t, req.ReadURLs, with.ReadURLs, "the pages reach the provider's page tool")
	require.Contains(t, with.Prompt, UserMarker)
	require.Equal(t, p.Expect.SearchTool, with.HasSearchTool, "reading pages leaves search as it was")
	require.Empty(t, without.ReadURLs, "no pages, none to read")
}

func sampleAnswer(p Provider) Answer {
	a := Answer{
		Model:   p.model(),
		Content: `{"summary":"R-1 single-family residential; ADUs allowed by right."}`,
		Sources: []domain.Source{
			{ID: 1, URL: "https://www.springfield.gov/planning/zoning", Title: "Springfield zoning map", Snippet: "District R-1 ..."},
			{ID: 2, URL: "https://library.example-codes.com/springfield/title-17", Title: "Title 17 Zoning", Snippet: "17.20.010 Purpose ..."},
		},
		Usage: domain.Usage{InputTokens: 1234, OutputTokens: 321},
	}
	if p.Caps.Cost {
		c := 0.0123
		a.Usage.CostUSD = &c
	}
	return a
}

func requireNumbered(t *testing.T, sources []domain.Source) {
	t.Helper()
	for i, s := range sources {
		require.Equal(t, i+1, s.ID, "sources are numbered 1..n")
		require.NotEmpty(t, s.URL)
	}
}

// requireProviderError checks err is a classified provider error that names
// the provider and never carries the key.
func requireProviderError(t *testing.T, p Provider, err error) *ports.ProviderError {
	t.Helper()
	require.Error(t, err)
	var pe *ports.ProviderError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, p.Name, pe.Provider)
	require.True(t, strings.HasPrefix(err.Error(), p.Name+":"), "message names the provider: %q", err.Error())
	for e := err; e != nil; e = errors.Unwrap(e) {
		require.NotContains(t, e.Error(), Key, "an error string leaks the API key")
	}
	return pe
}

type fake struct {
	p   Provider
	llm ports.LLM

	mu       sync.Mutex
	requests []CapturedRequest
}

// startFake starts a local server whose every request is recorded and then
// answered by handle, and builds the adapter against it.
func startFake(t *testing.T, p Provider, timeout time.Duration, handle http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{p: p}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		captured := p.Wire.DecodeRequest(t, r, body)
		f.mu.Lock()
		f.requests = append(f.requests, captured)
		f.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	f.llm = p.New(t, Server{URL: srv.URL, APIKey: Key, Model: p.model(), Timeout: timeout, HTTPClient: srv.Client()})
	return f
}

// researchErr runs the suite's request, expecting a classified error, and
// checks the request that was sent.
func (f *fake) researchErr(t *testing.T) *ports.ProviderError {
	t.Helper()
	_, err := f.llm.Research(context.Background(), Request())
	t.Logf("error: %v", err)
	pe := requireProviderError(t, f.p, err)
	f.requireRequest(t)
	return pe
}

// requireRequest checks the adapter sent exactly one request (adapters do
// not retry: the app does) and that it had the expected shape.
func (f *fake) requireRequest(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.requests, 1, "the adapter sends one request and does not retry")
	got, want := f.requests[0], f.p.Expect
	require.Equal(t, http.MethodPost, got.Method)
	require.Equal(t, want.Path, got.Path)
	require.Equal(t, want.Auth, got.Auth)
	require.Equal(t, f.p.model(), got.Model)
	require.True(t, got.HasSchema, "the request carries the JSON schema")
	require.Equal(t, want.SearchTool, got.HasSearchTool, "web-search tool")
	require.Contains(t, got.Prompt, SystemMarker)
	require.Contains(t, got.Prompt, UserMarker)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

const htmlPage = `<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx-fingerprint/1.25.3</center>
</body></html>`
