package providerfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// Completion is an answer to render as a provider's HTTP 200 body. It has
// the fields of llmtest.Answer, so the LLM contract's answers convert to it.
type Completion struct {
	Model   string
	Content string
	Sources []domain.Source // rendered with URL, Title and, where the provider sends one, Snippet
	Usage   domain.Usage    // the cost only where the provider reports one (Perplexity)
}

// Decode reads a request the way p's API does: what it asks for, and in
// Problems what the API would reject.
func (p Provider) Decode(r *http.Request, body []byte) Call {
	c := Call{Received: time.Now(), Method: r.Method, Path: r.URL.Path}
	p.wire().decode(r, body, &c)
	readPrompt(&c)
	if c.Verify {
		c.SchemaOK = isVerdictSchema(c.Schema) || containsSchema(c.System, isVerdictSchema)
	}
	return c
}

// Success renders c as p's body of a finished answer.
func (p Provider) Success(c Completion) []byte { return p.wire().success(c, false) }

// Truncated renders c as p's body of an answer cut short by the output-token
// limit.
func (p Provider) Truncated(c Completion) []byte { return p.wire().success(c, true) }

// Failure renders the error reply r (Status >= 400) in p's error envelope,
// setting on h the headers p sends with it.
func (p Provider) Failure(h http.Header, r Reply) []byte { return p.wire().failure(h, r) }

// AuthFailure is p's answer to a wrong API key: status and body.
func (p Provider) AuthFailure(gotKey string) (int, []byte) { return p.wire().authFailure(gotKey) }

func (p Provider) wire() wire {
	w, ok := wires[p]
	if !ok {
		panic(fmt.Sprintf("providerfake: unknown provider %q", p))
	}
	return w
}

var wires = map[Provider]wire{Perplexity: perplexityWire{}, OpenAI: openaiWire{}, Gemini: geminiWire{}}

// wire is one provider's request and response format.
type wire interface {
	// decode fills c from the request: key, model, prompts, tools, schema,
	// and Problems for anything the provider's API would reject.
	decode(r *http.Request, body []byte, c *Call)
	// cite returns the sources as the provider cites them in its answer
	// to the call c.
	cite(c Call, sources []Source) []domain.Source
	// success renders an answer, finished or truncated.
	success(c Completion, truncated bool) []byte
	// failure renders an error reply (status >= 400), setting headers on h.
	failure(h http.Header, r Reply) []byte
	// authFailure is the provider's answer to a wrong API key.
	authFailure(gotKey string) (int, []byte)
}

// citeAll returns sources as they are, numbered 1..n.
func citeAll(sources []Source) []domain.Source {
	out := make([]domain.Source, len(sources))
	for i, s := range sources {
		out[i] = domain.Source{ID: i + 1, URL: s.URL, Title: s.Title, Snippet: s.Snippet}
	}
	return out
}

// answerFields are the properties the app's answer schema must require.
var answerFields = []string{"summary", "outcome", "confidence", "confidence_reason", "findings", "needs_verification", "verify_with"}

// isAnswerSchema reports whether raw is a strict object schema requiring
// every answer field.
func isAnswerSchema(raw []byte) bool {
	var s struct {
		Type                 string                     `json:"type"`
		Required             []string                   `json:"required"`
		Properties           map[string]json.RawMessage `json:"properties"`
		AdditionalProperties *bool                      `json:"additionalProperties"`
	}
	if json.Unmarshal(raw, &s) != nil || s.Type != "object" || s.AdditionalProperties == nil || *s.AdditionalProperties {
		return false
	}
	for _, f := range answerFields {
		if _, ok := s.Properties[f]; !ok || !slices.Contains(s.Required, f) {
			return false
		}
	}
	return true
}

// isVerdictSchema reports whether raw is the app's strict verification
// schema: an object requiring a list of verdicts.
func isVerdictSchema(raw []byte) bool {
	var s struct {
		Type                 string                     `json:"type"`
		Required             []string                   `json:"required"`
		Properties           map[string]json.RawMessage `json:"properties"`
		AdditionalProperties *bool                      `json:"additionalProperties"`
	}
	if json.Unmarshal(raw, &s) != nil || s.Type != "object" || s.AdditionalProperties == nil || *s.AdditionalProperties {
		return false
	}
	_, ok := s.Properties["verdicts"]
	return ok && slices.Contains(s.Required, "verdicts")
}

// decodeStrict decodes body into v refusing unknown fields, as APIs that
// answer unknown request fields with 400 do.
func decodeStrict(body []byte, v any, c *Call) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		c.Problems = append(c.Problems, "body: "+err.Error())
	}
}

func expect(c *Call, ok bool, format string, args ...any) {
	if !ok {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
	}
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}

// --- Perplexity Agent API: POST /v1/agent, Responses format ---

type perplexityWire struct{}

var perplexitySchemaName = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

func (perplexityWire) decode(r *http.Request, body []byte, c *Call) {
	expect(c, r.Method == http.MethodPost && r.URL.Path == "/v1/agent", "want POST /v1/agent, got %s %s", r.Method, r.URL.Path)
	expect(c, strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"), "Content-Type %q", r.Header.Get("Content-Type"))
	c.Key = bearer(r)
	// Every documented request field; the API answers any other with 400.
	var req struct {
		Input           json.RawMessage   `json:"input"`
		Instructions    string            `json:"instructions"`
		LanguagePref    string            `json:"language_preference"`
		MaxOutputTokens *int              `json:"max_output_tokens"`
		MaxSteps        *int              `json:"max_steps"`
		Model           string            `json:"model"`
		Models          []string          `json:"models"`
		Preset          string            `json:"preset"`
		Reasoning       json.RawMessage   `json:"reasoning"`
		Stream          *bool             `json:"stream"`
		Tools           []json.RawMessage `json:"tools"`
		ResponseFormat  *struct {
			Type       string `json:"type"`
			JSONSchema struct {
				Name        string          `json:"name"`
				Schema      json.RawMessage `json:"schema"`
				Description string          `json:"description"`
				Strict      *bool           `json:"strict"`
			} `json:"json_schema"`
		} `json:"response_format"`
	}
	decodeStrict(body, &req, c)
	c.Model, c.System = req.Model, req.Instructions
	if err := json.Unmarshal(req.Input, &c.User); err != nil {
		c.Problems = append(c.Problems, "input is not a string")
	}
	expect(c, req.MaxOutputTokens == nil || *req.MaxOutputTokens >= 1, "max_output_tokens must be >= 1")
	expect(c, req.Stream == nil || !*req.Stream, "a streamed answer was asked for")
	for _, raw := range req.Tools {
		decodePerplexityTool(raw, c)
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type == "json_schema" {
		expect(c, perplexitySchemaName.MatchString(rf.JSONSchema.Name), "json_schema.name %q: 1-64 alphanumerics", rf.JSONSchema.Name)
		c.Schema = rf.JSONSchema.Schema
		c.SchemaOK = isAnswerSchema(c.Schema)
	}
}

// decodePerplexityTool reads a tool, refusing unknown web_search fields as
// the API does; search_domain_filter is an allowlist or (entries with a "-"
// prefix) a denylist, never both, of at most 20 domains.
func decodePerplexityTool(raw json.RawMessage, c *Call) {
	var kind struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &kind) == nil && kind.Type == "fetch_url" {
		var fetch struct {
			Type    string `json:"type"`
			MaxURLs *int   `json:"max_urls"`
		}
		decodeStrict(raw, &fetch, c)
		expect(c, fetch.MaxURLs == nil || (*fetch.MaxURLs >= 1 && *fetch.MaxURLs <= 10), "fetch_url.max_urls must be 1 to 10")
		c.PageTool = true
		return
	}
	if kind.Type != "web_search" {
		return
	}
	c.SearchTool = true
	var tl struct {
		Type    string `json:"type"`
		Filters *struct {
			SearchDomainFilter  []string `json:"search_domain_filter"`
			SearchRecencyFilter string   `json:"search_recency_filter"`
			SearchAfterDate     string   `json:"search_after_date_filter"`
			SearchBeforeDate    string   `json:"search_before_date_filter"`
		} `json:"filters"`
	}
	decodeStrict(raw, &tl, c)
	if tl.Filters == nil {
		return
	}
	domains := tl.Filters.SearchDomainFilter
	expect(c, len(domains) <= 20, "search_domain_filter: at most 20 domains")
	deny := 0
	for _, d := range domains {
		if strings.HasPrefix(d, "-") {
			deny++
		}
		expect(c, !strings.Contains(d, "://"), "search_domain_filter: %q has a scheme", d)
	}
	expect(c, deny == 0 || deny == len(domains), "search_domain_filter: allowlist and denylist entries mixed")
	if deny == 0 {
		c.AllowedDomains = domains
	}
}

func (perplexityWire) cite(_ Call, sources []Source) []domain.Source { return citeAll(sources) }

func (perplexityWire) success(c Completion, truncated bool) []byte {
	if truncated {
		return perplexityRun("incomplete", c, nil)
	}
	return perplexityRun("completed", c, nil)
}

// RunError is the error object of a Perplexity run that did not complete.
type RunError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
}

// PerplexityRun renders what the Agent API answers, with HTTP 200, for a run
// of model that ended with status other than completed ("failed",
// "cancelled", "in_progress", ...), with the run's error if it has one.
func PerplexityRun(model, status string, runErr *RunError) []byte {
	return perplexityRun(status, Completion{Model: model}, runErr)
}

// perplexityRun renders a response: the search results, the message if
// there is content, the run's error if any, and usage if tokens were used.
func perplexityRun(status string, c Completion, runErr *RunError) []byte {
	output := []any{}
	if len(c.Sources) > 0 {
		var results []any
		for _, s := range c.Sources {
			results = append(results, map[string]any{"id": s.ID, "url": s.URL, "title": s.Title, "snippet": s.Snippet,
				"date": "2026-10-01", "last_updated": "2026-10-15", "source": "web"})
		}
		output = append(output, map[string]any{"type": "search_results", "queries": []string{"san jose zoning"}, "results": results})
	}
	if c.Content != "" {
		output = append(output, map[string]any{"type": "message", "id": "msg_fake", "role": "assistant", "status": status,
			"content": []any{map[string]any{"type": "output_text", "text": c.Content, "annotations": []any{}}}})
	}
	resp := map[string]any{"id": "resp_fake", "object": "response", "created_at": 1795000000, "model": c.Model,
		"status": status, "output": output}
	if status == "incomplete" {
		resp["incomplete_details"] = map[string]any{"reason": "max_output_tokens"}
	}
	if runErr != nil {
		resp["error"] = runErr
	}
	if u := c.Usage; u.InputTokens+u.OutputTokens > 0 {
		usage := map[string]any{"input_tokens": u.InputTokens, "output_tokens": u.OutputTokens,
			"total_tokens": u.InputTokens + u.OutputTokens}
		if u.CostUSD != nil {
			cost := *u.CostUSD
			usage["cost"] = map[string]any{"currency": "USD", "input_cost": cost / 2, "output_cost": cost / 4,
				"tool_calls_cost": cost / 4, "total_cost": cost}
		}
		resp["usage"] = usage
	}
	return []byte(mustJSON(resp))
}

func (perplexityWire) failure(h http.Header, r Reply) []byte {
	kind := map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
		404: "not_found_error", 429: "rate_limit_error"}[r.Status]
	if kind == "" {
		kind = "server_error"
	}
	if r.Status == http.StatusTooManyRequests {
		h.Set("X-RateLimit-Limit-Requests", "50")
		h.Set("X-RateLimit-Remaining-Requests", "0")
	}
	if r.RetryAfter > 0 {
		h.Set("Retry-After", retryAfterSeconds(r.RetryAfter))
	}
	return []byte(mustJSON(map[string]any{"error": map[string]any{"message": r.Message, "type": kind, "code": r.Status}}))
}

// authFailure quotes the key it got: the binary must never repeat it.
func (perplexityWire) authFailure(gotKey string) (int, []byte) {
	return http.StatusUnauthorized, []byte(mustJSON(map[string]any{"error": map[string]any{
		"message": "Invalid API key provided: " + gotKey, "type": "authentication_error", "code": 401}}))
}

// --- Gemini API: POST /v1beta/models/{model}:generateContent ---

type geminiWire struct{}

var geminiPath = regexp.MustCompile(`^/v1beta/models/([^/:]+):generateContent$`)

type geminiContent struct {
	Role  string `json:"role"`
	Parts []struct {
		Text string `json:"text"`
	} `json:"parts"`
}

// siteOperator is a site-restricted query term in a Gemini prompt: Google
// Search grounding has no domain filter, so the prompt asks for these.
var siteOperator = regexp.MustCompile(`\bsite:([a-z0-9][a-z0-9.-]*[a-z0-9])`)

func (geminiWire) decode(r *http.Request, body []byte, c *Call) {
	m := geminiPath.FindStringSubmatch(r.URL.Path)
	expect(c, r.Method == http.MethodPost && m != nil, "want POST /v1beta/models/{model}:generateContent, got %s %s", r.Method, r.URL.Path)
	if m != nil {
		c.Model = m[1]
	}
	c.Key = r.Header.Get("x-goog-api-key")
	expect(c, r.URL.Query().Get("key") == "", "the key travels in the x-goog-api-key header, not the URL")
	var req struct {
		Contents          []geminiContent              `json:"contents"`
		SystemInstruction *geminiContent               `json:"systemInstruction"`
		Tools             []map[string]json.RawMessage `json:"tools"`
		GenerationConfig  map[string]json.RawMessage   `json:"generationConfig"`
		SafetySettings    json.RawMessage              `json:"safetySettings"`
		ToolConfig        json.RawMessage              `json:"toolConfig"`
		CachedContent     string                       `json:"cachedContent"`
		Labels            json.RawMessage              `json:"labels"`
	}
	decodeStrict(body, &req, c)
	if si := req.SystemInstruction; si != nil {
		for _, p := range si.Parts {
			c.System += p.Text
		}
	}
	for _, ct := range req.Contents {
		if ct.Role == "user" || ct.Role == "" {
			for _, p := range ct.Parts {
				c.User += p.Text
			}
		}
	}
	for _, tl := range req.Tools {
		if _, ok := tl["googleSearch"]; ok {
			c.SearchTool = true
		}
		if _, ok := tl["urlContext"]; ok {
			c.PageTool = true
		}
	}
	for _, m := range siteOperator.FindAllStringSubmatch(c.User, -1) {
		if !slices.Contains(c.AllowedDomains, m[1]) {
			c.AllowedDomains = append(c.AllowedDomains, m[1])
		}
	}
	for _, f := range []string{"responseMimeType", "responseSchema", "responseJsonSchema"} {
		_, set := req.GenerationConfig[f]
		expect(c, !(set && len(req.Tools) > 0), "Gemini 2.5 rejects %s together with tools", f)
	}
	c.SchemaOK = containsAnswerSchema(c.System)
}

// containsAnswerSchema reports whether the answer schema appears as JSON
// somewhere in s (Gemini gets it inside the system instruction).
func containsAnswerSchema(s string) bool { return containsSchema(s, isAnswerSchema) }

// containsSchema reports whether a JSON object that is checks as a schema
// appears somewhere in s.
func containsSchema(s string, is func([]byte) bool) bool {
	for i := strings.IndexByte(s, '{'); i >= 0; {
		var raw json.RawMessage
		if json.NewDecoder(strings.NewReader(s[i:])).Decode(&raw) == nil && is(raw) {
			return true
		}
		next := strings.IndexByte(s[i+1:], '{')
		if next < 0 {
			break
		}
		i += next + 1
	}
	return false
}

// cite grounds the Gemini way: each chunk's uri is an opaque redirect and
// its title the site's domain.
func (geminiWire) cite(_ Call, sources []Source) []domain.Source {
	out := make([]domain.Source, len(sources))
	for i, s := range sources {
		u, _ := url.Parse(s.URL)
		out[i] = domain.Source{ID: i + 1, URL: GeminiRedirectURL(i + 1), Title: strings.TrimPrefix(u.Hostname(), "www.")}
	}
	return out
}

// success fences the JSON as Gemini does without a response schema; a
// truncated answer stops inside the fence.
func (geminiWire) success(c Completion, truncated bool) []byte {
	text, finish := "```json\n"+c.Content+"\n```", "STOP"
	if truncated {
		text, finish = "```json\n"+c.Content, "MAX_TOKENS"
	}
	cand := map[string]any{"index": 0, "finishReason": finish,
		"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}}}
	if len(c.Sources) > 0 {
		var chunks []any
		for _, s := range c.Sources {
			chunks = append(chunks, map[string]any{"web": map[string]any{"uri": s.URL, "title": s.Title}})
		}
		cand["groundingMetadata"] = map[string]any{"webSearchQueries": []string{"san jose zoning"},
			"groundingChunks": chunks, "groundingSupports": geminiSupports(text, len(chunks))}
	}
	return []byte(mustJSON(map[string]any{
		"candidates": []any{cand},
		"usageMetadata": map[string]any{"promptTokenCount": c.Usage.InputTokens, "candidatesTokenCount": c.Usage.OutputTokens,
			"totalTokenCount": c.Usage.InputTokens + c.Usage.OutputTokens},
		"modelVersion": c.Model, "responseId": "resp-fake",
	}))
}

// geminiSupports grounds each finding's quote in the answer text on the
// chunks its source_ids name (1-based ids, 0-based chunk indices), as
// Gemini's groundingSupports tie a segment of the text to chunks.
func geminiSupports(text string, chunks int) []any {
	supports := []any{}
	for _, f := range findingQuotes(strings.Trim(strings.TrimSpace(text), "`json\n")) {
		start := strings.Index(text, f.Quote)
		var idx []int
		for _, id := range f.SourceIDs {
			if id >= 1 && id <= chunks {
				idx = append(idx, id-1)
			}
		}
		if f.Quote == "" || start < 0 || len(idx) == 0 {
			continue
		}
		supports = append(supports, map[string]any{"groundingChunkIndices": idx,
			"segment": map[string]any{"startIndex": start, "endIndex": start + len(f.Quote), "text": f.Quote}})
	}
	return supports
}

// findingQuote is what the fakes read of a finding in an answer: its quote
// and the source ids it cites.
type findingQuote struct {
	Quote     string `json:"quote"`
	SourceIDs []int  `json:"source_ids"`
}

// findingQuotes reads the findings of an answer's JSON; none when it is not
// a section answer.
func findingQuotes(content string) []findingQuote {
	var a struct {
		Findings []findingQuote `json:"findings"`
	}
	_ = json.Unmarshal([]byte(content), &a)
	return a.Findings
}

// GeminiRedirectURL is the grounding chunk uri the Gemini fake serves for
// the n-th (1-based) source: an opaque redirect, as Gemini sends.
func GeminiRedirectURL(n int) string {
	return fmt.Sprintf("https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQfake%02d", n)
}

var grpcStatus = map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
	404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

// failure sends a 429's delay as google.rpc.RetryInfo, as Gemini does,
// not as a Retry-After header.
func (geminiWire) failure(_ http.Header, r Reply) []byte {
	e := map[string]any{"code": r.Status, "message": r.Message, "status": grpcStatus[r.Status]}
	if r.RetryAfter > 0 {
		e["details"] = []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []any{map[string]any{
				"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
				"quotaId":     "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}}},
			map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retryAfterSeconds(r.RetryAfter) + "s"},
		}
	}
	return []byte(mustJSON(map[string]any{"error": e}))
}

// authFailure is Gemini's answer to a bad key: 400 INVALID_ARGUMENT with
// reason API_KEY_INVALID, not 401.
func (geminiWire) authFailure(string) (int, []byte) {
	return http.StatusBadRequest, []byte(mustJSON(map[string]any{"error": map[string]any{
		"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
		"details": []any{map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
			"domain": "googleapis.com", "metadata": map[string]any{"service": "generativelanguage.googleapis.com"}}},
	}}))
}
