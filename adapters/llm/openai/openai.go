// Package openai is the LLM provider for OpenAI chat completions through
// github.com/sashabaranov/go-openai, with a strict JSON-schema response
// format.
//
// Ordinary chat models do not search the web: their answers are returned
// ungrounded and without sources (the agent marks such sections as needing
// verification). A model whose name contains "search" (gpt-4o-search-preview,
// gpt-4o-mini-search-preview, ...) searches by itself; for those the
// url_citation annotations of the message become the sources and the answer
// is grounded.
//
// Failures are classified as *ports.ProviderError at this edge. The adapter
// does not retry or rate-limit: the app wraps every provider with a shared
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
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// Defaults and settings.
const (
	DefaultBaseURL = "https://api.openai.com/v1"
	DefaultModel   = "gpt-4.1-mini"
	DefaultTimeout = 120 * time.Second

	KeyEnvVar     = "OPENAI_API_KEY"
	BaseURLEnvVar = "OPENAI_BASE_URL"
	ModelEnvVar   = "OPENAI_MODEL"

	name    = "openai"
	maxBody = 16 << 20
)

// Config configures the client. Only APIKey is required.
type Config struct {
	APIKey     string
	BaseURL    string        // default DefaultBaseURL (include the /v1)
	Model      string        // default DefaultModel
	Timeout    time.Duration // per request; default DefaultTimeout
	HTTPClient *http.Client  // default a new client
}

// Client calls chat completions.
type Client struct {
	api      *goopenai.Client
	model    string
	search   bool
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
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	apiCfg := goopenai.DefaultConfig(cfg.APIKey)
	apiCfg.BaseURL = base
	apiCfg.HTTPClient = recordingDoer{client: httpClient}
	model := cmp.Or(cfg.Model, DefaultModel)
	return &Client{
		api:      goopenai.NewClientWithConfig(apiCfg),
		model:    model,
		search:   strings.Contains(model, "search"),
		timeout:  cmp.Or(cfg.Timeout, DefaultTimeout),
		classify: classify.Classifier{Provider: name, KeyEnv: KeyEnvVar, ModelEnv: ModelEnvVar, Key: cfg.APIKey, Model: model},
	}, nil
}

// Name returns "openai".
func (c *Client) Name() string { return name }

// Model returns the configured model.
func (c *Client) Model() string { return c.model }

// Research runs one chat completion with the request's schema as a strict
// JSON-schema response format. Failures are *ports.ProviderError; an answer
// cut at the token limit is returned with Truncated set.
func (c *Client) Research(ctx context.Context, req ports.SectionRequest) (ports.SectionResponse, error) {
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ex := &exchange{captureBody: c.search}
	resp, err := c.api.CreateChatCompletion(withExchange(reqCtx, ex), c.buildRequest(req))
	if err != nil {
		return ports.SectionResponse{}, c.classifyErr(ctx, reqCtx, ex, err)
	}
	return c.parse(resp, ex.body)
}

func (c *Client) buildRequest(req ports.SectionRequest) goopenai.ChatCompletionRequest {
	return goopenai.ChatCompletionRequest{
		Model: c.model,
		Messages: []goopenai.ChatCompletionMessage{
			{Role: goopenai.ChatMessageRoleSystem, Content: req.System},
			{Role: goopenai.ChatMessageRoleUser, Content: req.User},
		},
		ResponseFormat: &goopenai.ChatCompletionResponseFormat{
			Type: goopenai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &goopenai.ChatCompletionResponseFormatJSONSchema{
				Name: schemaName(req.SchemaName), Schema: req.Schema, Strict: true,
			},
		},
	}
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
	case errors.Is(err, goopenai.ErrChatCompletionInvalidModel):
		return &ports.ProviderError{Provider: name, EnvVar: ModelEnvVar, Err: err,
			Message: fmt.Sprintf("model %q cannot be used for chat completions", c.model)}
	case reqCtx.Err() == nil && isDecodeError(err):
		return c.classify.Malformed(err)
	default:
		return c.classify.Transport(parent, c.timeout, err)
	}
}

func (c *Client) apiError(e *goopenai.APIError, retryAfter time.Duration) *ports.ProviderError {
	pe := c.classify.Status(e.HTTPStatusCode, retryAfter, e.Message, fmt.Errorf("HTTP %d: %s", e.HTTPStatusCode, e.Type))
	code := strings.ToLower(fmt.Sprint(e.Code) + " " + e.Type)
	switch {
	case strings.Contains(code, "insufficient_quota"):
		// A 429 that no wait will fix: the account is out of credit.
		pe.Retryable, pe.RetryAfter, pe.EnvVar = false, 0, KeyEnvVar
		pe.Message = "quota exhausted: check billing for the API key: " + c.classify.Clean(e.Message)
	case strings.Contains(code, "model_not_found"):
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

func (c *Client) parse(resp goopenai.ChatCompletionResponse, rawBody []byte) (ports.SectionResponse, error) {
	if len(resp.Choices) == 0 {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Retryable: true, Message: "response without choices"}
	}
	choice := resp.Choices[0]
	if choice.Message.Refusal != "" {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name,
			Message: "model refused: " + c.classify.Clean(choice.Message.Refusal)}
	}
	if choice.FinishReason == goopenai.FinishReasonContentFilter {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Message: "answer withheld by the content filter"}
	}
	out := ports.SectionResponse{
		Content:   strings.TrimSpace(choice.Message.Content),
		Usage:     domain.Usage{InputTokens: int64(resp.Usage.PromptTokens), OutputTokens: int64(resp.Usage.CompletionTokens)},
		Model:     cmp.Or(resp.Model, c.model),
		Truncated: choice.FinishReason == goopenai.FinishReasonLength,
	}
	if c.search {
		out.Sources = citations(rawBody)
		out.Grounded = len(out.Sources) > 0
	}
	if out.Content == "" && !out.Truncated {
		return ports.SectionResponse{}, &ports.ProviderError{Provider: name, Retryable: true, Message: "empty answer"}
	}
	return out, nil
}

// citations reads the url_citation annotations of the first choice's
// message, which go-openai does not model, from the raw body; one source per
// URL, in order of first citation, numbered 1..n.
func citations(rawBody []byte) []domain.Source {
	var raw struct {
		Choices []struct {
			Message struct {
				Annotations []struct {
					Type        string `json:"type"`
					URLCitation struct {
						URL   string `json:"url"`
						Title string `json:"title"`
					} `json:"url_citation"`
				} `json:"annotations"`
			} `json:"message"`
		} `json:"choices"`
	}
	if json.Unmarshal(rawBody, &raw) != nil || len(raw.Choices) == 0 {
		return nil
	}
	var out []domain.Source
	seen := map[string]bool{}
	for _, a := range raw.Choices[0].Message.Annotations {
		u := a.URLCitation.URL
		if a.Type != "url_citation" || u == "" || seen[u] {
			continue
		}
		seen[u] = true
		out = append(out, domain.Source{ID: len(out) + 1, URL: u, Title: a.URLCitation.Title, Official: domain.IsOfficialURL(u)})
	}
	return out
}

// schemaName keeps the characters OpenAI allows in a schema name
// (a-z, A-Z, 0-9, _ and -, at most 64).
func schemaName(s string) string {
	var b strings.Builder
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
		if ok && b.Len() < 64 {
			b.WriteRune(r)
		}
	}
	return cmp.Or(b.String(), "section")
}
