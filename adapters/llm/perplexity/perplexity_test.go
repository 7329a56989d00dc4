package perplexity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/llm/perplexity"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/llmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestContract(t *testing.T) {
	llmtest.Exercise(t, provider())
}

func provider() llmtest.Provider {
	return llmtest.Provider{
		Name: "perplexity",
		New: func(t *testing.T, srv llmtest.Server) ports.LLM {
			c, err := perplexity.New(perplexity.Config{APIKey: srv.APIKey, BaseURL: srv.URL, Model: srv.Model,
				Timeout: srv.Timeout, HTTPClient: srv.HTTPClient})
			require.NoError(t, err)
			return c
		},
		Caps:        llmtest.Capabilities{Grounded: true, Cost: true, Snippets: true},
		Wire:        wire{},
		Expect:      llmtest.Expect{Path: "/v1/agent", Auth: "Bearer " + llmtest.Key, SearchTool: true},
		KeyEnvVar:   perplexity.KeyEnvVar,
		ModelEnvVar: perplexity.ModelEnvVar,
	}
}

// wire speaks the Agent API as documented (docs.perplexity.ai, "Create
// Agent Response"; the Stainless-generated perplexity-py types).
type wire struct{}

// documentedRequest lists every documented request field. Decoding with
// DisallowUnknownFields stands in for the API's 400 on unknown fields.
type documentedRequest struct {
	Input           json.RawMessage `json:"input"`
	Instructions    string          `json:"instructions"`
	LanguagePref    string          `json:"language_preference"`
	MaxOutputTokens *int            `json:"max_output_tokens"`
	MaxSteps        *int            `json:"max_steps"`
	Model           string          `json:"model"`
	Models          []string        `json:"models"`
	Preset          string          `json:"preset"`
	Reasoning       json.RawMessage `json:"reasoning"`
	ResponseFormat  *struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name        string          `json:"name"`
			Schema      json.RawMessage `json:"schema"`
			Description string          `json:"description"`
			Strict      *bool           `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
	Stream *bool             `json:"stream"`
	Tools  []json.RawMessage `json:"tools"`
}

func (wire) DecodeRequest(t *testing.T, r *http.Request, body []byte) llmtest.CapturedRequest {
	var req documentedRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.Errorf("request is not a documented Agent API request: %v\n%s", err, body)
	}
	if req.MaxOutputTokens != nil && *req.MaxOutputTokens < 1 {
		t.Errorf("max_output_tokens must be >= 1")
	}
	var input string
	if err := json.Unmarshal(req.Input, &input); err != nil {
		t.Errorf("input is not a string: %s", req.Input)
	}
	c := llmtest.CapturedRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
		Model: req.Model, Prompt: req.Instructions + "\n" + input}
	if rf := req.ResponseFormat; rf != nil && rf.Type == "json_schema" && rf.JSONSchema.Name != "" {
		c.HasSchema = jsonEqual(rf.JSONSchema.Schema, llmtest.Schema)
	}
	for _, raw := range req.Tools {
		var tl struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(raw, &tl) == nil && tl.Type == "web_search" {
			c.HasSearchTool = true
		}
	}
	return c
}

func (wire) RenderSuccess(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, render("completed", a, nil)
}

func (wire) RenderTruncated(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, render("incomplete", a, nil)
}

func (wire) RenderError(status int, message string) []byte {
	kind := map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
		404: "not_found_error", 429: "rate_limit_error"}[status]
	return mustJSON(map[string]any{"error": map[string]any{"message": message, "type": kind, "code": status}})
}

func (wire) RenderRunFailure(status, message string) (int, []byte) {
	return http.StatusOK, render(status, llmtest.Answer{Model: llmtest.Model},
		map[string]any{"message": message, "type": "server_error", "code": "upstream_error"})
}

func render(status string, a llmtest.Answer, apiErr map[string]any) []byte {
	var output []any
	if len(a.Sources) > 0 {
		var results []any
		for _, s := range a.Sources {
			results = append(results, map[string]any{"id": s.ID, "url": s.URL, "title": s.Title,
				"snippet": s.Snippet, "date": "2026-03-01", "source": "web"})
		}
		output = append(output, map[string]any{"type": "search_results", "queries": []string{"springfield zoning"}, "results": results})
	}
	if a.Content != "" {
		output = append(output, map[string]any{"type": "message", "id": "msg_1", "role": "assistant", "status": status,
			"content": []any{map[string]any{"type": "output_text", "text": a.Content, "annotations": []any{}}}})
	}
	resp := map[string]any{"id": "resp_1", "object": "response", "created_at": 1767225600, "model": a.Model,
		"status": status, "output": output}
	if apiErr != nil {
		resp["error"] = apiErr
	}
	if status == "incomplete" {
		resp["incomplete_details"] = map[string]any{"reason": "max_output_tokens"}
	}
	if a.Usage.InputTokens > 0 {
		u := map[string]any{"input_tokens": a.Usage.InputTokens, "output_tokens": a.Usage.OutputTokens,
			"total_tokens": a.Usage.InputTokens + a.Usage.OutputTokens}
		if a.Usage.CostUSD != nil {
			u["cost"] = map[string]any{"currency": "USD", "input_cost": 0.001, "output_cost": 0.002, "total_cost": *a.Usage.CostUSD}
		}
		resp["usage"] = u
	}
	return mustJSON(resp)
}

func TestNewValidatesConfig(t *testing.T) {
	_, err := perplexity.New(perplexity.Config{})
	require.ErrorContains(t, err, "PERPLEXITY_API_KEY")

	_, err = perplexity.New(perplexity.Config{APIKey: "k", BaseURL: "ftp://example.com"})
	require.ErrorContains(t, err, "PERPLEXITY_BASE_URL")

	c, err := perplexity.New(perplexity.Config{APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, "perplexity/sonar", c.Model())
	require.Equal(t, "perplexity", c.Name())
}

// answer serves body with status for every request and returns a client
// pointed at it, plus the decoded request body of the last call.
func answer(t *testing.T, status int, header http.Header, body string) (*perplexity.Client, *map[string]any) {
	t.Helper()
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := perplexity.New(perplexity.Config{APIKey: llmtest.Key, BaseURL: srv.URL + "/", HTTPClient: srv.Client()})
	require.NoError(t, err)
	return c, &got
}

func research(t *testing.T, c *perplexity.Client) (ports.SectionResponse, *ports.ProviderError) {
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

func TestRequestShape(t *testing.T) {
	c, got := answer(t, 200, nil, `{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"{}"}]}]}`)
	_, pe := research(t, c)
	require.Nil(t, pe)
	body := *got
	require.Equal(t, "perplexity/sonar", body["model"])
	require.Equal(t, llmtest.SystemMarker, body["instructions"])
	require.Equal(t, llmtest.UserMarker, body["input"])
	require.Equal(t, []any{map[string]any{"type": "web_search"}}, body["tools"])
	rf := body["response_format"].(map[string]any)
	require.Equal(t, "json_schema", rf["type"])
	require.Equal(t, "sectionresult", rf["json_schema"].(map[string]any)["name"], "schema name is alphanumeric")
	require.EqualValues(t, 8192, body["max_output_tokens"])
}

func TestRunFailureClassification(t *testing.T) {
	cases := []struct {
		status, errType string
		retryable       bool
		envVar          string
	}{
		{"failed", "server_error", true, ""},
		{"failed", "", true, ""},
		{"failed", "invalid_request_error", false, ""},
		{"failed", "authentication_error", false, perplexity.KeyEnvVar},
		{"cancelled", "", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.status+"_"+tc.errType, func(t *testing.T) {
			body := fmt.Sprintf(`{"status":%q,"output":[],"error":{"message":"it broke","type":%q}}`, tc.status, tc.errType)
			c, _ := answer(t, 200, nil, body)
			_, pe := research(t, c)
			require.NotNil(t, pe)
			require.Equal(t, tc.retryable, pe.Retryable)
			require.Equal(t, tc.envVar, pe.EnvVar)
			require.Contains(t, pe.Message, "it broke")
			require.Contains(t, pe.Message, tc.status)
		})
	}
}

func TestUnfinishedAndUnknownStatus(t *testing.T) {
	c, _ := answer(t, 200, nil, `{"status":"in_progress","output":[]}`)
	_, pe := research(t, c)
	require.True(t, pe.Retryable)

	c, _ = answer(t, 200, nil, `{"status":"requires_action","output":[]}`)
	_, pe = research(t, c)
	require.False(t, pe.Retryable)
}

func TestSourcesFromSeveralSearchSteps(t *testing.T) {
	body := `{"status":"completed","model":"perplexity/sonar","output":[
	  {"type":"search_results","results":[{"id":7,"url":"https://a.gov/x","title":"A","snippet":"sa"}]},
	  {"type":"fetch_url_results","contents":[{"url":"https://ignored.example","title":"I","snippet":"i"}]},
	  {"type":"search_results","results":[{"id":3,"url":"https://b.example/y","title":"B","snippet":"sb"}]},
	  {"type":"message","content":[{"type":"output_text","text":"{\"a\":"},{"type":"output_text","text":"1}"}]}],
	  "usage":{"input_tokens":10,"output_tokens":5,"total_tokens":15}}`
	c, _ := answer(t, 200, nil, body)
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Equal(t, `{"a":1}`, resp.Content)
	require.True(t, resp.Grounded)
	require.Len(t, resp.Sources, 2)
	require.Equal(t, 1, resp.Sources[0].ID)
	require.Equal(t, 2, resp.Sources[1].ID)
	require.Equal(t, "https://b.example/y", resp.Sources[1].URL)
	require.True(t, resp.Sources[0].Official)
	require.False(t, resp.Sources[1].Official)
	require.Nil(t, resp.Usage.CostUSD, "no cost reported, none invented")
}

func TestUngroundedAnswer(t *testing.T) {
	c, _ := answer(t, 200, nil, `{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"{}"}]}]}`)
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.False(t, resp.Grounded)
	require.Empty(t, resp.Sources)
}

func TestCompletedWithoutTextIsRetryable(t *testing.T) {
	c, _ := answer(t, 200, nil, `{"status":"completed","output":[]}`)
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
}

func TestRetryAfterHTTPDate(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	c, _ := answer(t, 503, http.Header{"Retry-After": {at}}, `{"error":{"message":"busy"}}`)
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
	require.InDelta(t, 90, pe.RetryAfter.Seconds(), 2)
}

func TestKeyEchoedByServerIsRedacted(t *testing.T) {
	c, _ := answer(t, 401, nil, `{"error":{"message":"bad key `+llmtest.Key+`","type":"authentication_error"}}`)
	_, pe := research(t, c)
	require.NotContains(t, pe.Error(), llmtest.Key)
	require.Contains(t, pe.Error(), "[redacted]")
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c, err := perplexity.New(perplexity.Config{APIKey: llmtest.Key, BaseURL: base})
	require.NoError(t, err)
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
	require.True(t, strings.HasPrefix(pe.Error(), "perplexity: connection failed"), pe.Error())
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
