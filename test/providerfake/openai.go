package providerfake

import (
	"cmp"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/codecheck/codecheck/domain"
)

// --- OpenAI Responses API: POST /v1/responses ---

type openaiWire struct{}

// openaiFields are the documented request fields of POST /v1/responses; the
// API answers others with 400 "Unknown parameter".
var openaiFields = []string{"background", "context_management", "conversation", "include", "input", "instructions",
	"max_output_tokens", "max_tool_calls", "metadata", "model", "parallel_tool_calls", "previous_response_id", "prompt",
	"prompt_cache_key", "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier", "store", "stream",
	"stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user"}

// openaiIncludes are the documented values of include.
var openaiIncludes = []string{"web_search_call.action.sources", "web_search_call.results", "file_search_call.results",
	"code_interpreter_call.outputs", "computer_call_output.output.image_url", "message.input_image.image_url",
	"message.output_text.logprobs", "reasoning.encrypted_content"}

// openaiWebSearchFields are the documented fields of the web_search tool.
var openaiWebSearchFields = []string{"type", "filters", "user_location", "search_context_size", "external_web_access"}

// OpenAISourcesInclude is the include value that makes a web_search_call
// carry the sources it consulted.
const OpenAISourcesInclude = "web_search_call.action.sources"

var openaiSchemaName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type openaiRequest struct {
	Model           string            `json:"model"`
	Instructions    string            `json:"instructions"`
	Input           json.RawMessage   `json:"input"`
	Include         []string          `json:"include"`
	Stream          bool              `json:"stream"`
	Background      bool              `json:"background"`
	MaxOutputTokens *int              `json:"max_output_tokens"`
	Tools           []json.RawMessage `json:"tools"`
	Text            *struct {
		Format *struct {
			Type   string          `json:"type"`
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict bool            `json:"strict"`
		} `json:"format"`
	} `json:"text"`
}

func (openaiWire) decode(r *http.Request, body []byte, c *Call) {
	expect(c, r.Method == http.MethodPost && r.URL.Path == "/v1/responses", "want POST /v1/responses, got %s %s", r.Method, r.URL.Path)
	c.Key = bearer(r)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		c.Problems = append(c.Problems, "body: "+err.Error())
	}
	for f := range fields {
		expect(c, slices.Contains(openaiFields, f), "unknown parameter %q", f)
	}
	var req openaiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		c.Problems = append(c.Problems, "body: "+err.Error())
	}
	c.Model, c.System, c.Include = req.Model, req.Instructions, req.Include
	expect(c, req.Model != "", "model is required")
	expect(c, !req.Stream, "a streamed answer was asked for")
	expect(c, !req.Background, "a background response was asked for")
	expect(c, req.MaxOutputTokens == nil || *req.MaxOutputTokens >= 16, "max_output_tokens must be >= 16")
	for _, inc := range req.Include {
		expect(c, slices.Contains(openaiIncludes, inc), "include: unsupported value %q", inc)
	}
	decodeOpenAIInput(req.Input, c)
	for _, raw := range req.Tools {
		decodeOpenAITool(raw, c)
	}
	if f := req.Text; f != nil && f.Format != nil && f.Format.Type == "json_schema" {
		expect(c, openaiSchemaName.MatchString(f.Format.Name), "text.format.name %q", f.Format.Name)
		expect(c, len(f.Format.Schema) > 0, "text.format.schema is required")
		if f.Format.Strict {
			c.Schema = f.Format.Schema
		}
		c.SchemaOK = isAnswerSchema(c.Schema)
	}
}

// decodeOpenAIInput reads input: a string (the user's message) or a list of
// messages whose text content it reads by role.
func decodeOpenAIInput(raw json.RawMessage, c *Call) {
	if json.Unmarshal(raw, &c.User) == nil {
		expect(c, c.User != "", "input is empty")
		return
	}
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &msgs) != nil || len(msgs) == 0 {
		c.Problems = append(c.Problems, "input must be a string or a list of messages")
		return
	}
	for _, m := range msgs {
		c.Roles = append(c.Roles, m.Role)
		text := ""
		if json.Unmarshal(m.Content, &text) != nil {
			var parts []struct {
				Text string `json:"text"`
			}
			_ = json.Unmarshal(m.Content, &parts)
			for _, p := range parts {
				text += p.Text
			}
		}
		switch m.Role {
		case "system", "developer":
			c.System += text
		case "user":
			c.User += text
		}
	}
}

func decodeOpenAITool(raw json.RawMessage, c *Call) {
	var tool map[string]json.RawMessage
	if json.Unmarshal(raw, &tool) != nil {
		c.Problems = append(c.Problems, "tools: not an object")
		return
	}
	var kind string
	_ = json.Unmarshal(tool["type"], &kind)
	if kind != "web_search" {
		return
	}
	c.SearchTool = true
	c.PageTool = true // its open_page action reads the pages the prompt names
	for f := range tool {
		expect(c, slices.Contains(openaiWebSearchFields, f), "tools[web_search]: unknown parameter %q", f)
	}
	if raw, ok := tool["filters"]; ok {
		var filters map[string]json.RawMessage
		expect(c, json.Unmarshal(raw, &filters) == nil, "tools[web_search].filters: not an object")
		for f := range filters {
			expect(c, f == "allowed_domains", "tools[web_search].filters: unknown parameter %q", f)
		}
		var domains []string
		if d, ok := filters["allowed_domains"]; ok {
			expect(c, json.Unmarshal(d, &domains) == nil, "filters.allowed_domains: not a list of strings")
		}
		expect(c, len(domains) <= 100, "filters.allowed_domains: at most 100 domains")
		for _, d := range domains {
			expect(c, !strings.Contains(d, "://"), "filters.allowed_domains: %q has a scheme", d)
		}
		c.AllowedDomains = domains
	}
}

// cite gives sources only when the web_search tool was asked for: without
// it the model does not search.
func (openaiWire) cite(c Call, sources []Source) []domain.Source {
	if !c.SearchTool {
		return nil
	}
	return citeAll(sources)
}

func (openaiWire) success(c Completion, truncated bool) []byte {
	if truncated {
		return openaiResponse("incomplete", c, nil)
	}
	return openaiResponse("completed", c, nil)
}

// OpenAIResponse renders what the Responses API answers, with HTTP 200, for
// a response of model that ended with status other than completed
// ("failed", "cancelled", "in_progress", ...), with its error if it has
// one (OpenAI sends the error's code and message).
func OpenAIResponse(model, status string, respErr *RunError) []byte {
	return openaiResponse(status, Completion{Model: model}, respErr)
}

// openaiResponse renders a response: a reasoning item, the search call with
// the sources it consulted, the message whose text cites every source with
// a url_citation annotation (over the quote of the first finding citing it,
// else an empty span at the end), the error if any, and usage.
func openaiResponse(status string, c Completion, respErr *RunError) []byte {
	output := []any{map[string]any{"type": "reasoning", "id": "rs_fake", "summary": []any{}}}
	annotations := []any{}
	if len(c.Sources) > 0 {
		consulted := []any{}
		for i, s := range c.Sources {
			consulted = append(consulted, map[string]any{"type": "url", "url": s.URL})
			start, end := citedSpan(c.Content, i+1)
			annotations = append(annotations, map[string]any{"type": "url_citation", "url": s.URL, "title": s.Title,
				"start_index": start, "end_index": end})
		}
		output = append(output, map[string]any{"type": "web_search_call", "id": "ws_fake", "status": "completed",
			"action": map[string]any{"type": "search", "query": "san jose zoning", "queries": []string{"san jose zoning"},
				"sources": consulted}})
	}
	if c.Content != "" {
		output = append(output, map[string]any{"type": "message", "id": "msg_fake", "role": "assistant", "status": status,
			"content": []any{map[string]any{"type": "output_text", "text": c.Content, "annotations": annotations, "logprobs": []any{}}}})
	}
	resp := map[string]any{"id": "resp_fake", "object": "response", "created_at": 1795000000, "model": c.Model,
		"status": status, "error": nil, "incomplete_details": nil, "output": output, "store": false}
	if status == "incomplete" {
		resp["incomplete_details"] = map[string]any{"reason": "max_output_tokens"}
	}
	if respErr != nil {
		resp["error"] = map[string]any{"code": respErr.Code, "message": respErr.Message}
	}
	u := c.Usage
	resp["usage"] = map[string]any{"input_tokens": u.InputTokens, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": u.OutputTokens, "output_tokens_details": map[string]any{"reasoning_tokens": 0},
		"total_tokens": u.InputTokens + u.OutputTokens}
	return []byte(mustJSON(resp))
}

// openaiCodes are the error codes OpenAI sends by status; other statuses
// come with a null code.
var openaiCodes = map[int]string{401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}

func (openaiWire) failure(h http.Header, r Reply) []byte {
	kind := "server_error"
	switch {
	case r.Code == "insufficient_quota":
		kind = r.Code // a 429 whose type says no wait will help
	case r.Status == http.StatusTooManyRequests:
		kind = "requests"
		h.Set("X-Ratelimit-Remaining-Requests", "0")
		h.Set("X-Ratelimit-Reset-Requests", "1s")
	case r.Status < 500:
		kind = "invalid_request_error"
	}
	if r.RetryAfter > 0 {
		h.Set("Retry-After", retryAfterSeconds(r.RetryAfter))
	}
	var code any
	if c := cmp.Or(r.Code, openaiCodes[r.Status]); c != "" {
		code = c
	}
	return []byte(mustJSON(map[string]any{"error": map[string]any{"message": r.Message, "type": kind, "param": nil, "code": code}}))
}

// authFailure quotes the key in full (OpenAI masks most of it): the binary
// must never repeat it.
func (openaiWire) authFailure(gotKey string) (int, []byte) {
	return http.StatusUnauthorized, []byte(mustJSON(map[string]any{"error": map[string]any{
		"message": "Incorrect API key provided: " + gotKey + ". You can find your API key at https://platform.openai.com/account/api-keys.",
		"type":    "invalid_request_error", "param": nil, "code": "invalid_api_key"}}))
}

// citedSpan is where, in code points as OpenAI counts, the quote of the
// first finding in content that cites source id lies; an empty span at the
// end when no finding quotes it, so that the page is cited without
// vouching for any text.
func citedSpan(content string, id int) (start, end int) {
	for _, f := range findingQuotes(content) {
		at := strings.Index(content, f.Quote)
		if f.Quote != "" && at >= 0 && slices.Contains(f.SourceIDs, id) {
			start = utf8.RuneCountInString(content[:at])
			return start, start + utf8.RuneCountInString(f.Quote)
		}
	}
	n := utf8.RuneCountInString(content)
	return n, n
}
