// Package openai is the LLM provider for OpenAI's Responses API
// (POST {base}/responses) through github.com/sashabaranov/go-openai's
// CreateResponse: the web_search tool, the search call's sources included
// (web_search_call.action.sources), and the section's JSON schema as a
// strict text.format.
//
// Sources are the url_citation annotations of the answer text, then the
// pages the search call consulted, one per URL, numbered 1..n. A model that
// cannot use the web_search tool is refused by New unless the caller allows
// ungrounded answers: then no search is asked for and every answer is
// returned ungrounded (the agent marks such sections as needing
// verification).
//
// Failures are classified as *ports.ProviderError at this edge, including
// responses that arrive as HTTP 200 with status "failed". The adapter does
// not retry or rate-limit: the app wraps every provider with a shared
// limiter and retries.
package openai

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/codecheck/codecheck/adapters/llm/internal/classify"
	"github.com/codecheck/codecheck/adapters/llm/internal/pages"
	"github.com/codecheck/codecheck/ports"
)

// Defaults and settings.
const (
	DefaultBaseURL = "https://api.openai.com/v1"
	// DefaultModel is a current model that searches with the web_search
	// tool at a moderate price.
	DefaultModel   = "gpt-5-mini"
	DefaultTimeout = 120 * time.Second

	KeyEnvVar     = "OPENAI_API_KEY"
	BaseURLEnvVar = "OPENAI_BASE_URL"
	ModelEnvVar   = "OPENAI_MODEL"
	// AllowUngroundedEnvVar names the setting that lets a model that cannot
	// search be used anyway (cmd reads it into Config.AllowUngrounded).
	AllowUngroundedEnvVar = "CODECHECK_OPENAI_ALLOW_UNGROUNDED"

	name = "openai"
	// maxOutputTokens bounds one section's answer, reasoning included; an
	// answer cut at the limit comes back "incomplete" and is returned
	// Truncated.
	maxOutputTokens = 16384
)

// Config configures the client. Only APIKey is required.
type Config struct {
	APIKey     string
	BaseURL    string        // default DefaultBaseURL (include the /v1)
	Model      string        // default DefaultModel
	Timeout    time.Duration // per request; default DefaultTimeout
	HTTPClient *http.Client  // default a new client
	// AllowUngrounded accepts a model that cannot use the web_search tool:
	// it is asked without search and its answers are ungrounded.
	AllowUngrounded bool
}

// Client calls the Responses API.
type Client struct {
	api      *goopenai.Client
	model    string
	search   bool
	timeout  time.Duration
	classify classify.Classifier
}

var _ ports.LLM = (*Client)(nil)

// New validates cfg and returns a client. A missing key, a bad base URL or
// a model that cannot search (without AllowUngrounded) is an error naming
// the environment variable to set.
func New(cfg Config) (*Client, error) {
	base, err := classify.Settings{Provider: name, KeyEnv: KeyEnvVar, BaseURLEnv: BaseURLEnvVar,
		Key: cfg.APIKey, BaseURL: cmp.Or(cfg.BaseURL, DefaultBaseURL), Timeout: cfg.Timeout}.Check()
	if err != nil {
		return nil, err
	}
	model := cmp.Or(cfg.Model, DefaultModel)
	search := CanSearch(model)
	if !search && !cfg.AllowUngrounded {
		return nil, fmt.Errorf("%s: model %q cannot search the web (the Responses API web_search tool): "+
			"set %s to a model that can (default %s), or %s=1 to accept answers without sources",
			name, model, ModelEnvVar, DefaultModel, AllowUngroundedEnvVar)
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	apiCfg := goopenai.DefaultConfig(cfg.APIKey)
	apiCfg.BaseURL = base
	apiCfg.HTTPClient = recordingDoer{client: httpClient}
	return &Client{
		api:      goopenai.NewClientWithConfig(apiCfg),
		model:    model,
		search:   search,
		timeout:  cmp.Or(cfg.Timeout, DefaultTimeout),
		classify: classify.Classifier{Provider: name, KeyEnv: KeyEnvVar, ModelEnv: ModelEnvVar, Key: cfg.APIKey, Model: model},
	}, nil
}

// Name returns "openai".
func (c *Client) Name() string { return name }

// Model returns the configured model.
func (c *Client) Model() string { return c.model }

// Research creates one response, with web search when the model can, and the
// request's schema as a strict JSON-schema text format. Failures are
// *ports.ProviderError; an answer cut at the token limit is returned with
// Truncated set.
func (c *Client) Research(ctx context.Context, req ports.SectionRequest) (ports.SectionResponse, error) {
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ex := &exchange{}
	resp, err := c.api.CreateResponse(withExchange(reqCtx, ex), c.buildRequest(req))
	if err != nil {
		return ports.SectionResponse{}, c.classifyErr(ctx, reqCtx, ex, err)
	}
	return c.parse(resp)
}

func (c *Client) buildRequest(req ports.SectionRequest) goopenai.CreateResponseRequest {
	store := false // nothing is read back later: do not keep the research at OpenAI
	r := goopenai.CreateResponseRequest{
		Model:        c.model,
		Instructions: req.System,
		// The web_search tool's open_page action reads the pages the
		// prompt names; there is no separate page tool to enable.
		Input: pages.Prompt(req.User, req.ReadURLs),
		Text: &goopenai.ResponseTextConfig{Format: &goopenai.ResponseTextFormat{
			Type: "json_schema", Name: schemaName(req.SchemaName), Schema: req.Schema, Strict: true,
		}},
		MaxOutputTokens: maxOutputTokens,
		Store:           &store,
	}
	if c.search {
		search := goopenai.ResponseTool{Type: goopenai.ToolTypeWebSearch}
		if len(req.AllowedDomains) > 0 {
			// Subdomains of an allowed domain are searched too.
			search.Parameters = map[string]any{"filters": map[string]any{"allowed_domains": req.AllowedDomains}}
		}
		r.Tools = []goopenai.ResponseTool{search}
		r.Include = []goopenai.ResponseInclude{goopenai.ResponseIncludeWebSearchCallActionSources}
	}
	return r
}

// classifyErr maps go-openai's errors: *APIError carries a JSON error body,
// *RequestError a body that was not JSON (an HTML 502 page): its body is
// never shown. Anything else failed before or while reading the response.
func (c *Client) classifyErr(parent, reqCtx context.Context, ex *exchange, err error) *ports.ProviderError {
	retryAfter := classify.ParseRetryAfter(ex.header.Get("Retry-After"), time.Now())
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	switch {
	case errors.As(err, &apiErr) && apiErr.HTTPStatusCode > 0:
		return c.apiError(apiErr, retryAfter)
	case errors.As(err, &reqErr) && reqErr.HTTPStatusCode > 0:
		return c.classify.Status(reqErr.HTTPStatusCode, retryAfter, "", fmt.Errorf("HTTP %d with a non-JSON body", reqErr.HTTPStatusCode))
	case reqCtx.Err() == nil && isDecodeError(err):
		return c.classify.Malformed(err)
	default:
		return c.classify.Transport(parent, c.timeout, err)
	}
}

func (c *Client) apiError(e *goopenai.APIError, retryAfter time.Duration) *ports.ProviderError {
	pe := c.classify.Status(e.HTTPStatusCode, retryAfter, e.Message, fmt.Errorf("HTTP %d: %s", e.HTTPStatusCode, e.Type))
	code := strings.ToLower(fmt.Sprint(e.Code) + " " + e.Type)
	param := ""
	if e.Param != nil {
		param = *e.Param
	}
	switch {
	case strings.Contains(code, "insufficient_quota"):
		// A 429 that no wait will fix: the account is out of credit.
		pe.Retryable, pe.RetryAfter, pe.EnvVar = false, 0, KeyEnvVar
		pe.Message = "quota exhausted: check billing for the API key: " + c.classify.Clean(e.Message)
	case strings.Contains(code, "model_not_found"), param == "model",
		e.HTTPStatusCode == http.StatusBadRequest && strings.HasPrefix(param, "tools"):
		// The model does not exist, or cannot use the web_search tool.
		pe.Retryable, pe.EnvVar = false, ModelEnvVar
	}
	return pe
}

func isDecodeError(err error) bool {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	return errors.As(err, &syntaxErr) || errors.As(err, &typeErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
