// Package perplexity is the LLM provider for Perplexity's Agent API
// (POST {base}/v1/agent, Responses format) with its web_search tool, and its
// fetch_url tool when a request names pages to read.
//
// It speaks the API with net/http and typed structs, sends only documented
// fields (the API answers unknown ones with 400), always branches on the
// response status (failed runs arrive as HTTP 200) and classifies every
// failure as a *ports.ProviderError. It does not retry or rate-limit: the app
// wraps every provider with a shared limiter and retries.
package perplexity

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/codecheck/codecheck/adapters/llm/internal/classify"
	"github.com/codecheck/codecheck/adapters/llm/internal/pages"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Defaults and settings.
const (
	DefaultBaseURL = "https://api.perplexity.ai"
	DefaultModel   = "perplexity/sonar"
	DefaultTimeout = 120 * time.Second

	KeyEnvVar     = "PERPLEXITY_API_KEY"
	BaseURLEnvVar = "PERPLEXITY_BASE_URL"
	ModelEnvVar   = "PERPLEXITY_MODEL"

	name = "perplexity"
	// maxOutputTokens bounds one section's answer; an answer cut at the
	// limit comes back with status "incomplete" and is returned Truncated.
	maxOutputTokens = 8192
	// maxFetchURLs is the most pages one fetch_url call may read.
	maxFetchURLs = 10
	// maxBody bounds how much of a response body is read.
	maxBody = 16 << 20
)

// Config configures the client. Only APIKey is required.
type Config struct {
	APIKey     string
	BaseURL    string        // default DefaultBaseURL
	Model      string        // default DefaultModel
	Timeout    time.Duration // per request; default DefaultTimeout
	HTTPClient *http.Client  // default a new client
}

// Client calls the Agent API.
type Client struct {
	endpoint string
	key      string
	model    string
	timeout  time.Duration
	http     *http.Client
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
	c := &Client{
		endpoint: base + "/v1/agent",
		key:      cfg.APIKey,
		model:    cmp.Or(cfg.Model, DefaultModel),
		timeout:  cmp.Or(cfg.Timeout, DefaultTimeout),
		http:     cfg.HTTPClient,
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	c.classify = classify.Classifier{Provider: name, KeyEnv: KeyEnvVar, ModelEnv: ModelEnvVar, Key: c.key, Model: c.model}
	return c, nil
}

// Name returns "perplexity".
func (c *Client) Name() string { return name }

// Model returns the configured model.
func (c *Client) Model() string { return c.model }

// Research runs one agent request with web search and a JSON-schema answer.
// Failures are *ports.ProviderError; an answer cut short by the output limit
// is returned with Truncated set, not as an error.
func (c *Client) Research(ctx context.Context, req ports.SectionRequest) (ports.SectionResponse, error) {
	body, err := json.Marshal(c.buildRequest(req))
	if err != nil {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Message: "encoding request: " + err.Error(), Err: err}
	}
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	status, header, respBody, err := c.post(reqCtx, body)
	if err != nil {
		return ports.SectionResponse{}, c.classify.Transport(ctx, c.timeout, err)
	}
	if status < 200 || status > 299 {
		return ports.SectionResponse{}, c.statusError(status, header, respBody)
	}
	var resp agentResponse
	if err := json.Unmarshal(respBody, &resp); err != nil {
		return ports.SectionResponse{}, c.classify.Malformed(err)
	}
	return c.parse(resp)
}

func (c *Client) buildRequest(req ports.SectionRequest) agentRequest {
	tools := []tool{searchTool(req.AllowedDomains)}
	if len(req.ReadURLs) > 0 {
		// fetch_url reads the pages the prompt names in full; search stays
		// on for pages it cannot fetch.
		tools = append(tools, tool{Type: "fetch_url", MaxURLs: min(len(req.ReadURLs), maxFetchURLs)})
	}
	return agentRequest{
		Model:        c.model,
		Instructions: req.System,
		Input:        pages.Prompt(req.User, req.ReadURLs),
		Tools:        tools,
		ResponseFormat: &responseFormat{Type: "json_schema", JSONSchema: jsonSchema{
			Name: schemaName(req.SchemaName), Schema: req.Schema,
		}},
		MaxOutputTokens: maxOutputTokens,
	}
}

// searchTool is the web_search tool, limited to domains (and their
// subdomains) when there are some: an allowlist in
// tools[].filters.search_domain_filter.
func searchTool(domains []string) tool {
	t := tool{Type: "web_search"}
	if len(domains) > 0 {
		t.Filters = &toolFilters{SearchDomainFilter: domains}
	}
	return t
}

// post sends body and reads the whole response under ctx, so a response
// that stalls mid-body also hits the timeout.
func (c *Client) post(ctx context.Context, body []byte) (int, http.Header, []byte, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	hreq.Header.Set("Authorization", "Bearer "+c.key)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return 0, nil, nil, err
	}
	defer hresp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(hresp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, err
	}
	return hresp.StatusCode, hresp.Header, respBody, nil
}

func (c *Client) statusError(status int, header http.Header, body []byte) error {
	var env errorEnvelope
	detail := ""
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		detail = env.Error.Message
	}
	retryAfter := classify.ParseRetryAfter(header.Get("Retry-After"), time.Now())
	return c.classify.Status(status, retryAfter, detail, fmt.Errorf("HTTP %d", status))
}

// parse branches on the run status: only completed and incomplete runs carry
// an answer.
func (c *Client) parse(resp agentResponse) (ports.SectionResponse, error) {
	switch resp.Status {
	case statusCompleted, statusIncomplete:
	case statusFailed, statusCancelled:
		return ports.SectionResponse{}, c.runFailure(resp)
	case statusInProgress, statusQueued:
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Retryable: true,
			Message: fmt.Sprintf("run not finished (status %q)", resp.Status)}
	default:
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name,
			Message: fmt.Sprintf("unexpected run status %q", c.classify.Clean(resp.Status))}
	}
	out := ports.SectionResponse{
		Content:   outputText(resp.Output),
		Sources:   sources(resp.Output),
		Usage:     resp.usage(),
		Model:     cmp.Or(resp.Model, c.model),
		Truncated: resp.Status == statusIncomplete,
	}
	out.Grounded = len(out.Sources) > 0
	if out.Content == "" && !out.Truncated {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Retryable: true,
			Message: "completed run without answer text"}
	}
	return out, nil
}

// runFailure classifies a failed or cancelled run. The run failed on the
// server side, so it is retryable unless the error says the request itself
// is at fault (invalid request, auth, content policy): retrying those
// cannot help. We never cancel runs ourselves, so a cancelled run was
// stopped by the server and is retryable.
func (c *Client) runFailure(resp agentResponse) error {
	pe := &ports.ProviderError{Provider: name, Retryable: true}
	msg, kind := "", ""
	if resp.Error != nil {
		msg = resp.Error.Message
		kind = strings.ToLower(resp.Error.Type + " " + resp.Error.codeString())
	}
	pe.Message = classify.WithDetail("run "+resp.Status, c.classify.Clean(msg))
	if resp.Status == statusFailed {
		for _, permanent := range []string{"invalid", "auth", "permission", "content", "safety", "policy"} {
			if strings.Contains(kind, permanent) {
				pe.Retryable = false
			}
		}
		if strings.Contains(kind, "auth") || strings.Contains(kind, "permission") {
			pe.EnvVar = KeyEnvVar
		}
	}
	pe.Err = errors.New(pe.Message)
	return pe
}

// outputText joins the output_text parts of the message items.
func outputText(items []outputItem) string {
	var b strings.Builder
	for _, it := range items {
		if it.Type != "message" {
			continue
		}
		for _, p := range it.Content {
			if p.Type == "output_text" {
				b.WriteString(p.Text)
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// sources maps the results of the search_results items, in order, with
// their dates. A result keeps the id Perplexity gave it, which is the number
// the model cites; results without one are numbered by position (1-based)
// among all results. The agent renumbers and de-duplicates across a section
// later.
func sources(items []outputItem) []domain.Source {
	var out []domain.Source
	n := 0
	for _, it := range items {
		if it.Type != "search_results" {
			continue
		}
		for _, r := range it.Results {
			n++
			if r.URL == "" {
				continue
			}
			out = append(out, domain.Source{ID: cmp.Or(r.ID, n), URL: r.URL, Title: r.Title, Snippet: r.Snippet,
				Published: r.Date, LastUpdated: r.LastUpdated, Official: domain.IsOfficialURL(r.URL)})
		}
	}
	return out
}

func (r agentResponse) usage() domain.Usage {
	if r.Usage == nil {
		return domain.Usage{}
	}
	u := domain.Usage{InputTokens: r.Usage.InputTokens, OutputTokens: r.Usage.OutputTokens}
	if r.Usage.Cost != nil && r.Usage.Cost.TotalCost != nil {
		cost := *r.Usage.Cost.TotalCost
		u.CostUSD = &cost
	}
	return u
}

// schemaName keeps the characters the API allows in a schema name
// (1-64 alphanumerics).
func schemaName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() < 64 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return cmp.Or(b.String(), "section")
}
