package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/llm/openai"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/llmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestContract(t *testing.T) {
	llmtest.Exercise(t, provider(""))
}

// A search model answers with url_citation annotations: grounded, with
// sources.
func TestContractSearchModel(t *testing.T) {
	p := provider("gpt-4o-mini-search-preview")
	p.Caps.Grounded = true
	llmtest.Exercise(t, p)
}

func provider(model string) llmtest.Provider {
	return llmtest.Provider{
		Name:  "openai",
		Model: model,
		New: func(t *testing.T, srv llmtest.Server) ports.LLM {
			c, err := openai.New(openai.Config{APIKey: srv.APIKey, BaseURL: srv.URL + "/v1", Model: srv.Model,
				Timeout: srv.Timeout, HTTPClient: srv.HTTPClient})
			require.NoError(t, err)
			return c
		},
		Wire:        wire{},
		Expect:      llmtest.Expect{Path: "/v1/chat/completions", Auth: "Bearer " + llmtest.Key},
		KeyEnvVar:   openai.KeyEnvVar,
		ModelEnvVar: openai.ModelEnvVar,
	}
}

// wire speaks OpenAI chat completions.
type wire struct{}

func (wire) DecodeRequest(t *testing.T, r *http.Request, body []byte) llmtest.CapturedRequest {
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
		ResponseFormat *struct {
			Type       string `json:"type"`
			JSONSchema struct {
				Name   string          `json:"name"`
				Schema json.RawMessage `json:"schema"`
				Strict bool            `json:"strict"`
			} `json:"json_schema"`
		} `json:"response_format"`
		Tools []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("request body: %v", err)
	}
	c := llmtest.CapturedRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
		Model: req.Model, HasSearchTool: len(req.Tools) > 0}
	var prompt []string
	for _, m := range req.Messages {
		prompt = append(prompt, m.Role+": "+m.Content)
	}
	c.Prompt = strings.Join(prompt, "\n")
	if len(req.Messages) != 2 || req.Messages[0].Role != "system" || req.Messages[1].Role != "user" {
		t.Errorf("want a system and a user message, got %s", c.Prompt)
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type == "json_schema" && rf.JSONSchema.Strict && rf.JSONSchema.Name != "" {
		c.HasSchema = jsonEqual(rf.JSONSchema.Schema, llmtest.Schema)
	}
	return c
}

func (wire) RenderSuccess(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, render(a, "stop")
}

func (wire) RenderTruncated(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, render(a, "length")
}

func (wire) RenderError(status int, message string) []byte {
	code := map[int]string{401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}[status]
	var c any
	if code != "" {
		c = code
	}
	return mustJSON(map[string]any{"error": map[string]any{"message": message, "type": "invalid_request_error", "param": nil, "code": c}})
}

func render(a llmtest.Answer, finish string) []byte {
	annotations := []any{}
	for _, s := range a.Sources {
		annotations = append(annotations, map[string]any{"type": "url_citation",
			"url_citation": map[string]any{"url": s.URL, "title": s.Title, "start_index": 0, "end_index": 10}})
	}
	return mustJSON(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1767225600, "model": a.Model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": finish,
			"message": map[string]any{"role": "assistant", "content": a.Content, "refusal": nil, "annotations": annotations}}},
		"usage": map[string]any{"prompt_tokens": a.Usage.InputTokens, "completion_tokens": a.Usage.OutputTokens,
			"total_tokens": a.Usage.InputTokens + a.Usage.OutputTokens},
	})
}

func TestNewValidatesConfig(t *testing.T) {
	_, err := openai.New(openai.Config{})
	require.ErrorContains(t, err, "OPENAI_API_KEY")

	_, err = openai.New(openai.Config{APIKey: "k", BaseURL: "not a url"})
	require.ErrorContains(t, err, "OPENAI_BASE_URL")

	c, err := openai.New(openai.Config{APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, "gpt-4.1-mini", c.Model())
	require.Equal(t, "openai", c.Name())
}

func serve(t *testing.T, model string, status int, body string) *openai.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := openai.New(openai.Config{APIKey: llmtest.Key, BaseURL: srv.URL + "/v1", Model: model, HTTPClient: srv.Client()})
	require.NoError(t, err)
	return c
}

func research(t *testing.T, c *openai.Client) (ports.SectionResponse, *ports.ProviderError) {
	t.Helper()
	resp, err := c.Research(context.Background(), llmtest.Request())
	if err == nil {
		return resp, nil
	}
	var pe *ports.ProviderError
	require.ErrorAs(t, err, &pe)
	require.NotContains(t, err.Error(), llmtest.Key)
	return resp, pe
}

func choice(message, finish string) string {
	return `{"model":"gpt-4.1-mini-2025-04-14","choices":[{"index":0,"finish_reason":"` + finish + `","message":` + message + `}],
	"usage":{"prompt_tokens":3,"completion_tokens":4}}`
}

func TestRefusalIsPermanent(t *testing.T) {
	c := serve(t, "", 200, choice(`{"role":"assistant","content":"","refusal":"I can't help with that."}`, "stop"))
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Contains(t, pe.Message, "refused")
}

func TestContentFilterIsPermanent(t *testing.T) {
	c := serve(t, "", 200, choice(`{"role":"assistant","content":""}`, "content_filter"))
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
}

func TestEmptyAnswerIsRetryable(t *testing.T) {
	c := serve(t, "", 200, `{"choices":[]}`)
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
}

func TestInsufficientQuotaIsPermanent(t *testing.T) {
	c := serve(t, "", 429, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`)
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Equal(t, openai.KeyEnvVar, pe.EnvVar)
	require.Contains(t, pe.Message, "quota")
}

func TestModelNotFoundOn400(t *testing.T) {
	c := serve(t, "", 400, `{"error":{"message":"The model does not exist","type":"invalid_request_error","code":"model_not_found"}}`)
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Equal(t, openai.ModelEnvVar, pe.EnvVar)
}

func TestResponseModelAndUsage(t *testing.T) {
	c := serve(t, "", 200, choice(`{"role":"assistant","content":"{}"}`, "stop"))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Equal(t, "gpt-4.1-mini-2025-04-14", resp.Model)
	require.EqualValues(t, 3, resp.Usage.InputTokens)
	require.EqualValues(t, 4, resp.Usage.OutputTokens)
	require.False(t, resp.Grounded)
}

func TestSearchModelCitationsDeduplicated(t *testing.T) {
	msg := `{"role":"assistant","content":"{}","annotations":[
	  {"type":"url_citation","url_citation":{"url":"https://a.gov/1","title":"A"}},
	  {"type":"url_citation","url_citation":{"url":"https://b.example/2","title":"B"}},
	  {"type":"url_citation","url_citation":{"url":"https://a.gov/1","title":"A again"}}]}`
	c := serve(t, "gpt-4o-search-preview", 200, choice(msg, "stop"))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.True(t, resp.Grounded)
	require.Len(t, resp.Sources, 2)
	require.Equal(t, "https://b.example/2", resp.Sources[1].URL)
	require.Equal(t, 2, resp.Sources[1].ID)
	require.True(t, resp.Sources[0].Official)
}

func TestSearchModelWithoutCitationsIsUngrounded(t *testing.T) {
	c := serve(t, "gpt-4o-search-preview", 200, choice(`{"role":"assistant","content":"{}"}`, "stop"))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.False(t, resp.Grounded)
	require.Empty(t, resp.Sources)
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
