// Package gemini is the LLM provider for the Gemini API
// (models/{model}:generateContent) through google.golang.org/genai, grounded
// with the Google Search tool.
//
// Gemini 2.5 models refuse a JSON response MIME type or schema together with
// a tool ("Tool use with a response mime type: 'application/json' is
// unsupported"), so the adapter sends the schema inside the system
// instruction, asks for one bare JSON object and strips Markdown code fences
// from the answer. The agent validates and repairs the JSON as for every
// provider.
//
// The SDK reads GOOGLE_API_KEY, GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL and
// GOOGLE_GENAI_USE_VERTEXAI from the environment by itself; the adapter
// passes key, backend, base URL and API version explicitly so that only its
// Config counts. Failures are classified as *ports.ProviderError at this
// edge. The adapter does not retry or rate-limit: the app does.
package gemini

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/codecheck/codecheck/adapters/llm/internal/classify"
	"github.com/codecheck/codecheck/adapters/llm/internal/pages"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Defaults and settings.
const (
	DefaultBaseURL = "https://generativelanguage.googleapis.com/"
	DefaultModel   = "gemini-2.5-flash"
	DefaultTimeout = 120 * time.Second

	KeyEnvVar     = "GEMINI_API_KEY"
	BaseURLEnvVar = "GEMINI_BASE_URL"
	ModelEnvVar   = "GEMINI_MODEL"

	name       = "gemini"
	apiVersion = "v1beta"
)

// Config configures the client. Only APIKey is required.
type Config struct {
	APIKey     string
	BaseURL    string        // default DefaultBaseURL
	Model      string        // default DefaultModel
	Timeout    time.Duration // per request; default DefaultTimeout
	HTTPClient *http.Client  // default a new client
}

// Client calls generateContent.
type Client struct {
	api      *genai.Client
	model    string
	timeout  time.Duration
	classify classify.Classifier
}

var _ ports.LLM = (*Client)(nil)

// New validates cfg and returns a client. A missing key or a bad base URL is
// an error naming the environment variable to set.
func New(cfg Config) (*Client, error) {
	base, err := classify.Settings{Provider: name, KeyEnv: KeyEnvVar, BaseURLEnv: BaseURLEnvVar,
		Key: cfg.APIKey, BaseURL: cmp.Or(cfg.BaseURL, DefaultBaseURL), Timeout: cfg.Timeout}.Check()
	if err != nil {
		return nil, err
	}
	base += "/"
	model := cmp.Or(cfg.Model, DefaultModel)
	cls := classify.Classifier{Provider: name, KeyEnv: KeyEnvVar, ModelEnv: ModelEnvVar, Key: cfg.APIKey, Model: model}
	api, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      cfg.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: base, APIVersion: apiVersion},
		HTTPClient:  recordingClient(cfg.HTTPClient),
	})
	if err != nil {
		// The SDK's message can quote the whole config, key included.
		return nil, fmt.Errorf("%s: creating client: %s", name, cls.Clean(err.Error()))
	}
	return &Client{api: api, model: model, timeout: cmp.Or(cfg.Timeout, DefaultTimeout), classify: cls}, nil
}

// Name returns "gemini".
func (c *Client) Name() string { return name }

// Model returns the configured model.
func (c *Client) Model() string { return c.model }

// Research runs one grounded generateContent call. Failures are
// *ports.ProviderError; an answer cut at the token limit is returned with
// Truncated set.
func (c *Client) Research(ctx context.Context, req ports.SectionRequest) (ports.SectionResponse, error) {
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ex := &exchange{}
	resp, err := c.generate(withExchange(reqCtx, ex), req)
	if err != nil {
		return ports.SectionResponse{}, c.classifyErr(ctx, reqCtx, ex, err)
	}
	return c.parse(resp)
}

// errUndecodable marks a body the SDK could not turn into a response.
var errUndecodable = errors.New("undecodable response body")

// generate calls the SDK. Its decoding asserts the JSON's shape and panics
// on a body such as {"candidates":[null]}; that is a malformed body, not a
// reason to bring the worker down.
func (c *Client) generate(ctx context.Context, req ports.SectionRequest) (resp *genai.GenerateContentResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, fmt.Errorf("%w: %v", errUndecodable, r)
		}
	}()
	return c.api.Models.GenerateContent(ctx, c.model, genai.Text(userPrompt(req)), config(req))
}

// userPrompt is the user prompt with, when the search is to be narrowed,
// site-restricted query wording: Google Search grounding has no domain
// filter of its own.
func userPrompt(req ports.SectionRequest) string {
	user := pages.Prompt(req.User, req.ReadURLs)
	if len(req.AllowedDomains) == 0 {
		return user
	}
	sites := make([]string, len(req.AllowedDomains))
	for i, d := range req.AllowedDomains {
		sites[i] = "site:" + d
	}
	return user + "\nSearch the jurisdiction's official sites only: add (" + strings.Join(sites, " OR ") +
		") to every search query, and cite only pages from those sites.\n"
}

func config(req ports.SectionRequest) *genai.GenerateContentConfig {
	system := req.System + "\n\nAnswer with a single JSON object and nothing else: no prose, no Markdown code fences. " +
		"The object must validate against this JSON schema:\n" + string(req.Schema)
	tools := []*genai.Tool{{GoogleSearch: &genai.GoogleSearch{}}}
	if len(req.ReadURLs) > 0 {
		// URL context reads the pages the prompt names (up to 20).
		tools = append(tools, &genai.Tool{URLContext: &genai.URLContext{}})
	}
	return &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText(system, genai.RoleUser),
		Tools:             tools,
	}
}

// classifyErr maps the SDK's errors: genai.APIError (a value) for HTTP error
// statuses, anything else failed before or while reading the response.
func (c *Client) classifyErr(parent, reqCtx context.Context, ex *exchange, err error) *ports.ProviderError {
	var apiErr genai.APIError
	switch {
	case errors.As(err, &apiErr):
		return c.apiError(apiErr, ex)
	case errors.Is(err, errUndecodable), reqCtx.Err() == nil && isDecodeError(err):
		return c.classify.Malformed(err)
	default:
		return c.classify.Transport(parent, c.timeout, err)
	}
}

func (c *Client) apiError(e genai.APIError, ex *exchange) *ports.ProviderError {
	status := cmp.Or(ex.status, e.Code)
	retryAfter := cmp.Or(classify.ParseRetryAfter(ex.header.Get("Retry-After"), time.Now()), retryDelay(e.Details))
	// A non-JSON body (an HTML 502 page) arrives as the message; clean drops it.
	pe := c.classify.Status(status, retryAfter, e.Message, fmt.Errorf("HTTP %d: %s", status, e.Status))
	if status == http.StatusBadRequest && (hasReason(e.Details, "API_KEY_INVALID") || strings.Contains(e.Message, "API key")) {
		// Gemini answers a bad key with 400 INVALID_ARGUMENT.
		pe.EnvVar = KeyEnvVar
		pe.Message = "authentication failed: check the API key: " + c.classify.Clean(e.Message)
	}
	return pe
}

// retryDelay reads google.rpc.RetryInfo's retryDelay ("7s") from error
// details, which Gemini sends with 429 RESOURCE_EXHAUSTED.
func retryDelay(details []map[string]any) time.Duration {
	for _, d := range details {
		if t, _ := d["@type"].(string); !strings.HasSuffix(t, "google.rpc.RetryInfo") {
			continue
		}
		if s, ok := d["retryDelay"].(string); ok {
			if delay, err := time.ParseDuration(s); err == nil && delay > 0 {
				return delay
			}
		}
	}
	return 0
}

// hasReason reports whether a google.rpc.ErrorInfo detail carries reason.
func hasReason(details []map[string]any, reason string) bool {
	for _, d := range details {
		if r, _ := d["reason"].(string); r == reason {
			return true
		}
	}
	return false
}

func isDecodeError(err error) bool {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	return errors.As(err, &syntaxErr) || errors.As(err, &typeErr) || errors.Is(err, io.ErrUnexpectedEOF)
}

// blockedFinish are finish reasons that withhold the answer on policy
// grounds: retrying the same prompt will not help.
var blockedFinish = map[genai.FinishReason]bool{
	genai.FinishReasonSafety: true, genai.FinishReasonRecitation: true, genai.FinishReasonBlocklist: true,
	genai.FinishReasonProhibitedContent: true, genai.FinishReasonSPII: true,
}

func (c *Client) parse(resp *genai.GenerateContentResponse) (ports.SectionResponse, error) {
	if fb := resp.PromptFeedback; fb != nil && fb.BlockReason != "" {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name,
			Message: "prompt blocked: " + c.classify.Clean(string(fb.BlockReason))}
	}
	if len(resp.Candidates) == 0 || resp.Candidates[0] == nil {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Retryable: true, Message: "response without candidates"}
	}
	cand := resp.Candidates[0]
	if blockedFinish[cand.FinishReason] {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name,
			Message: "answer withheld: " + string(cand.FinishReason)}
	}
	srcs, chunkIDs := sources(cand.GroundingMetadata)
	out := ports.SectionResponse{
		Content:   stripFences(candidateText(cand)),
		Sources:   srcs,
		Spans:     spans(cand.GroundingMetadata, chunkIDs),
		Usage:     usage(resp.UsageMetadata),
		Model:     cmp.Or(resp.ModelVersion, c.model),
		Truncated: cand.FinishReason == genai.FinishReasonMaxTokens,
	}
	out.Grounded = len(out.Sources) > 0
	if gm := cand.GroundingMetadata; gm != nil {
		out.Usage.SearchCalls = int64(len(gm.WebSearchQueries))
	}
	if out.Content == "" && !out.Truncated {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Retryable: true,
			Message: "empty answer (finish reason " + c.classify.Clean(string(cand.FinishReason)) + ")"}
	}
	return out, nil
}

// candidateText joins the text parts of the answer, leaving out thoughts.
func candidateText(cand *genai.Candidate) string {
	if cand.Content == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range cand.Content.Parts {
		if p != nil && !p.Thought {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// stripFences returns the JSON inside a Markdown code fence, if the answer
// is fenced; an answer cut short may lack the closing fence.
func stripFences(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return s
	}
	start := strings.Index(s, "```")
	if start < 0 {
		return s
	}
	rest := s[start+3:]
	nl := strings.IndexByte(rest, '\n')
	if nl < 0 {
		return s
	}
	rest = rest[nl+1:] // drop the language tag line
	if end := strings.LastIndex(rest, "```"); end >= 0 {
		rest = rest[:end]
	}
	return strings.TrimSpace(rest)
}

// sources maps the web grounding chunks, one per URI, numbered 1..n. The
// Gemini API gives redirect URIs and the site's domain as title, so the
// title also counts when deciding whether a source is official. chunkIDs
// maps a chunk's index to its source's id.
func sources(gm *genai.GroundingMetadata) (out []domain.Source, chunkIDs map[int]int) {
	if gm == nil {
		return nil, nil
	}
	chunkIDs = map[int]int{}
	byURI := map[string]int{}
	for i, ch := range gm.GroundingChunks {
		if ch == nil || ch.Web == nil || ch.Web.URI == "" {
			continue
		}
		if id, ok := byURI[ch.Web.URI]; ok {
			chunkIDs[i] = id
			continue
		}
		w := ch.Web
		official := domain.IsOfficialURL(w.URI) || (looksLikeHost(w.Title) && domain.IsOfficialURL("https://"+w.Title))
		out = append(out, domain.Source{ID: len(out) + 1, URL: w.URI, Title: w.Title, Official: official})
		byURI[w.URI], chunkIDs[i] = len(out), len(out)
	}
	return out, chunkIDs
}

// spans maps groundingSupports to the answer's text spans and the ids of
// the sources their groundingChunkIndices point at; supports without text
// or without a web source are left out.
func spans(gm *genai.GroundingMetadata, chunkIDs map[int]int) []ports.GroundingSpan {
	if gm == nil {
		return nil
	}
	var out []ports.GroundingSpan
	for _, sup := range gm.GroundingSupports {
		if sup == nil || sup.Segment == nil || strings.TrimSpace(sup.Segment.Text) == "" {
			continue
		}
		var ids []int
		for _, ci := range sup.GroundingChunkIndices {
			if id, ok := chunkIDs[int(ci)]; ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			out = append(out, ports.GroundingSpan{Text: sup.Segment.Text, SourceIDs: ids})
		}
	}
	return out
}

func looksLikeHost(s string) bool {
	return s != "" && strings.Contains(s, ".") && !strings.ContainsAny(s, " /:")
}

// usage counts tool-use prompt tokens as input and thinking tokens as
// output, as Gemini bills them. The API reports no cost.
func usage(u *genai.GenerateContentResponseUsageMetadata) domain.Usage {
	if u == nil {
		return domain.Usage{}
	}
	return domain.Usage{
		InputTokens:  int64(u.PromptTokenCount) + int64(u.ToolUsePromptTokenCount),
		OutputTokens: int64(u.CandidatesTokenCount) + int64(u.ThoughtsTokenCount),
	}
}
