package openai_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/llm/openai"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/llmtest"
	"github.com/codecheck/codecheck/test/providerfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// searchModel is a model that can use the web_search tool.
const searchModel = "gpt-5-mini"

// The default: the Responses API with web search, grounded in the cited and
// consulted pages.
func TestContract(t *testing.T) {
	p := provider(searchModel, false)
	p.Caps.Grounded = true
	p.Expect.SearchTool = true
	llmtest.Exercise(t, p)
}

// A model that cannot search, allowed with AllowUngrounded: asked without
// the tool, answered without sources.
func TestContractUngrounded(t *testing.T) {
	llmtest.Exercise(t, provider("gpt-4.1-nano", true))
}

func provider(model string, allowUngrounded bool) llmtest.Provider {
	return llmtest.Provider{
		Name:  "openai",
		Model: model,
		New: func(t *testing.T, srv llmtest.Server) ports.LLM {
			c, err := openai.New(openai.Config{APIKey: srv.APIKey, BaseURL: srv.URL + "/v1", Model: srv.Model,
				Timeout: srv.Timeout, HTTPClient: srv.HTTPClient, AllowUngrounded: allowUngrounded})
			require.NoError(t, err)
			return c
		},
		Wire:        wire{},
		Expect:      llmtest.Expect{Path: "/v1/responses", Auth: "Bearer " + llmtest.Key},
		KeyEnvVar:   openai.KeyEnvVar,
		ModelEnvVar: openai.ModelEnvVar,
	}
}

// wire speaks the Responses API through providerfake, the model of the wire
// format the end-to-end tests share: it refuses undocumented request fields
// as the API does.
type wire struct{}

func (wire) DecodeRequest(t *testing.T, r *http.Request, body []byte) llmtest.CapturedRequest {
	c := providerfake.OpenAI.Decode(r, body)
	for _, p := range c.Problems {
		t.Errorf("the request breaks the Responses API: %s\n%s", p, body)
	}
	if c.SearchTool != slices.Contains(c.Include, providerfake.OpenAISourcesInclude) {
		t.Errorf("web_search tool %v but include %v: the search call's sources go with the tool", c.SearchTool, c.Include)
	}
	if c.System != llmtest.SystemMarker || !strings.HasPrefix(c.User, llmtest.UserMarker) {
		t.Errorf("want the system prompt as instructions and the user prompt as input, got %q and %q", c.System, c.User)
	}
	return llmtest.CapturedRequest{Method: c.Method, Path: c.Path, Auth: r.Header.Get("Authorization"),
		Model: c.Model, HasSchema: c.SchemaIs(llmtest.Schema), HasSearchTool: c.SearchTool, AllowedDomains: c.AllowedDomains, ReadURLs: c.ReadURLs,
		Prompt: c.System + "\n" + c.User}
}

func (wire) RenderSuccess(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, providerfake.OpenAI.Success(providerfake.Completion(a))
}

func (wire) RenderTruncated(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, providerfake.OpenAI.Truncated(providerfake.Completion(a))
}

func (wire) RenderError(status int, message string) []byte {
	return providerfake.OpenAI.Failure(http.Header{}, providerfake.Reply{Status: status, Message: message})
}

func (wire) RenderRunFailure(status, message string) (int, []byte) {
	return http.StatusOK, providerfake.OpenAIResponse(searchModel, status,
		&providerfake.RunError{Message: message, Code: "server_error"})
}

func TestNewValidatesConfig(t *testing.T) {
	_, err := openai.New(openai.Config{})
	require.ErrorContains(t, err, "OPENAI_API_KEY")

	_, err = openai.New(openai.Config{APIKey: "k", BaseURL: "not a url"})
	require.ErrorContains(t, err, "OPENAI_BASE_URL")

	c, err := openai.New(openai.Config{APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, "gpt-5-mini", c.Model())
	require.True(t, openai.CanSearch(c.Model()), "the default model searches")
	require.Equal(t, "openai", c.Name())
}

// A model that cannot search is refused at start-up, naming the setting to
// change and the one that accepts it anyway.
func TestNewRefusesModelThatCannotSearch(t *testing.T) {
	for _, model := range []string{"gpt-4.1-nano", "gpt-3.5-turbo", "gpt-4o-search-preview", "my-proxy-alias"} {
		_, err := openai.New(openai.Config{APIKey: "k", Model: model})
		require.ErrorContains(t, err, openai.ModelEnvVar, model)
		require.ErrorContains(t, err, openai.AllowUngroundedEnvVar+"=1", model)
		require.ErrorContains(t, err, model)

		c, err := openai.New(openai.Config{APIKey: "k", Model: model, AllowUngrounded: true})
		require.NoError(t, err, model)
		require.Equal(t, model, c.Model())
	}
}

func TestCanSearch(t *testing.T) {
	yes := []string{"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "o3", "o3-pro",
		"o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5.4-mini", "gpt-6-astra", "ft:gpt-4.1-mini:acme::abc", "openai/gpt-5"}
	no := []string{"", "gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", "gpt-4o-search-preview", "gpt-4o-mini-search-preview",
		"gpt-5-search-api", "gpt-4o-audio-preview", "gpt-4o-realtime-preview", "gpt-4o-mini-tts", "gpt-4o-transcribe",
		"gpt-3.5-turbo", "gpt-4", "gpt-4-turbo", "o1", "o3-mini", "chatgpt-4o-latest", "gpt-image-1", "gpt-50x", "gpt-4.1x"}
	for _, m := range yes {
		require.True(t, openai.CanSearch(m), m)
	}
	for _, m := range no {
		require.False(t, openai.CanSearch(m), m)
	}
}

// serve answers every request with status and body, and returns a client
// for model pointed at it, plus the decoded body of the last request.
func serve(t *testing.T, model string, status int, body []byte) (*openai.Client, *map[string]any) {
	t.Helper()
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := openai.New(openai.Config{APIKey: llmtest.Key, BaseURL: srv.URL + "/v1", Model: model,
		HTTPClient: srv.Client(), AllowUngrounded: true})
	require.NoError(t, err)
	return c, &got
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

// The request, field by field, as the Responses API documents it.
func TestRequestBody(t *testing.T) {
	c, got := serve(t, searchModel, 200, providerfake.OpenAI.Success(providerfake.Completion{Model: searchModel, Content: "{}"}))
	_, pe := research(t, c)
	require.Nil(t, pe)
	body := *got
	require.Equal(t, searchModel, body["model"])
	require.Equal(t, llmtest.SystemMarker, body["instructions"])
	require.Equal(t, llmtest.UserMarker, body["input"])
	require.Equal(t, []any{map[string]any{"type": "web_search"}}, body["tools"])
	require.Equal(t, []any{"web_search_call.action.sources"}, body["include"])
	require.Equal(t, false, body["store"])
	require.Greater(t, body["max_output_tokens"], 0.0)
	var schema any
	require.NoError(t, json.Unmarshal(llmtest.Schema, &schema))
	require.Equal(t, map[string]any{"format": map[string]any{"type": "json_schema", "name": "section_result",
		"schema": schema, "strict": true}}, body["text"])
}

func TestUngroundedModelAsksNoSearch(t *testing.T) {
	c, got := serve(t, "gpt-4.1-nano", 200, providerfake.OpenAI.Success(providerfake.Completion{Content: "{}",
		Sources: []domain.Source{{URL: "https://a.gov/1"}}}))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.NotContains(t, *got, "tools")
	require.NotContains(t, *got, "include")
	require.False(t, resp.Grounded)
	require.Empty(t, resp.Sources)
}

// response is a Responses API body with the given output items.
func response(status, output string) []byte {
	return []byte(`{"id":"resp_1","object":"response","status":"` + status + `","model":"gpt-5-mini-2025-08-07",
	"output":` + output + `,"usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}`)
}

// Sources are the cited pages in citation order, then the pages the searches
// consulted but the text does not cite; one per URL, numbered 1..n.
func TestSourcesCitedThenConsulted(t *testing.T) {
	c, _ := serve(t, searchModel, 200, response("completed", `[
	 {"type":"reasoning","id":"rs_1","summary":[]},
	 {"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"q",
	  "sources":[{"type":"url","url":"https://c.example/3"},{"type":"url","url":"https://a.gov/1"},{"type":"api","name":"oai-weather"}]}},
	 {"type":"web_search_call","id":"ws_2","status":"completed","action":{"type":"open_page","url":"https://b.example/2"}},
	 {"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"{\"summary\":\"x\"}",
	  "annotations":[{"type":"url_citation","url":"https://a.gov/1","title":"A","start_index":0,"end_index":5},
	                 {"type":"url_citation","url":"https://b.example/2","title":"B","start_index":5,"end_index":9},
	                 {"type":"url_citation","url":"https://a.gov/1","title":"A again","start_index":9,"end_index":12}]}]}]`))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.True(t, resp.Grounded)
	require.Equal(t, `{"summary":"x"}`, resp.Content)
	require.Equal(t, "gpt-5-mini-2025-08-07", resp.Model)
	require.EqualValues(t, 3, resp.Usage.InputTokens)
	require.EqualValues(t, 4, resp.Usage.OutputTokens)
	require.Nil(t, resp.Usage.CostUSD)
	require.Equal(t, []domain.Source{
		{ID: 1, URL: "https://a.gov/1", Title: "A", Official: true},
		{ID: 2, URL: "https://b.example/2", Title: "B"},
		{ID: 3, URL: "https://c.example/3"},
	}, resp.Sources)
}

// Each url_citation's indices (code points, end exclusive) become a span of
// the answer tied to its source; broken indices are skipped.
func TestURLCitationsBecomeSpans(t *testing.T) {
	c, _ := serve(t, searchModel, 200, response("completed", `[
	 {"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text",
	  "text":"{\"quote\":\"Zoné R-1\",\"other\":\"Title 17\"}",
	  "annotations":[{"type":"url_citation","url":"https://a.gov/1","title":"A","start_index":10,"end_index":18},
	                 {"type":"url_citation","url":"https://b.example/2","title":"B","start_index":10,"end_index":18},
	                 {"type":"url_citation","url":"https://b.example/2","title":"B","start_index":29,"end_index":37},
	                 {"type":"url_citation","url":"https://c.example/3","title":"C","start_index":30,"end_index":99}]}]}]`))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Equal(t, []ports.GroundingSpan{
		{Text: "Zoné R-1", SourceIDs: []int{1, 2}},
		{Text: "Title 17", SourceIDs: []int{2}},
	}, resp.Spans)
}

func TestSearchWithoutSourcesIsUngrounded(t *testing.T) {
	c, _ := serve(t, searchModel, 200, providerfake.OpenAI.Success(providerfake.Completion{Content: "{}"}))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.False(t, resp.Grounded)
	require.Empty(t, resp.Sources)
}

// A 200 with status "failed" is an error: retryable when the server broke,
// permanent when the prompt is at fault.
func TestFailedResponse(t *testing.T) {
	c, _ := serve(t, searchModel, 200, providerfake.OpenAIResponse(searchModel, "failed",
		&providerfake.RunError{Code: "server_error", Message: "The model failed to generate a response."}))
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
	require.Contains(t, pe.Message, "failed")
	require.Contains(t, pe.Message, "failed to generate")

	c, _ = serve(t, searchModel, 200, providerfake.OpenAIResponse(searchModel, "failed",
		&providerfake.RunError{Code: "invalid_prompt", Message: "Invalid prompt: flagged."}))
	_, pe = research(t, c)
	require.False(t, pe.Retryable)
}

func TestIncompleteResponse(t *testing.T) {
	c, _ := serve(t, searchModel, 200, providerfake.OpenAI.Truncated(providerfake.Completion{Content: `{"summary":"cut`,
		Sources: []domain.Source{{URL: "https://a.gov/1", Title: "A"}}}))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.True(t, resp.Truncated)
	require.Equal(t, `{"summary":"cut`, resp.Content)
	require.Len(t, resp.Sources, 1)

	// Cut off at the limit while still reasoning: no text, still truncated.
	c, _ = serve(t, searchModel, 200, []byte(`{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},
		"output":[{"type":"reasoning","id":"rs_1","summary":[]}]}`))
	resp, pe = research(t, c)
	require.Nil(t, pe)
	require.True(t, resp.Truncated)

	c, _ = serve(t, searchModel, 200, []byte(`{"status":"incomplete","incomplete_details":{"reason":"content_filter"},"output":[]}`))
	_, pe = research(t, c)
	require.False(t, pe.Retryable)
	require.Contains(t, pe.Message, "content filter")
}

func TestUnfinishedResponseIsRetryable(t *testing.T) {
	c, _ := serve(t, searchModel, 200, providerfake.OpenAIResponse(searchModel, "in_progress", nil))
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
}

func TestRefusalIsPermanent(t *testing.T) {
	c, _ := serve(t, searchModel, 200, response("completed", `[{"type":"message","id":"msg_1","role":"assistant",
	 "status":"completed","content":[{"type":"refusal","refusal":"I can't help with that."}]}]`))
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Contains(t, pe.Message, "refused")
}

func TestEmptyAnswerIsRetryable(t *testing.T) {
	c, _ := serve(t, searchModel, 200, response("completed", `[]`))
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
}

func TestInsufficientQuotaIsPermanent(t *testing.T) {
	c, _ := serve(t, searchModel, 429, providerfake.OpenAI.Failure(http.Header{},
		providerfake.Reply{Status: 429, Code: "insufficient_quota", Message: "You exceeded your current quota"}))
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Equal(t, openai.KeyEnvVar, pe.EnvVar)
	require.Contains(t, pe.Message, "quota")
}

func TestModelNotFoundOn400(t *testing.T) {
	c, _ := serve(t, searchModel, 400, providerfake.OpenAI.Failure(http.Header{},
		providerfake.Reply{Status: 400, Code: "model_not_found", Message: "The model does not exist"}))
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Equal(t, openai.ModelEnvVar, pe.EnvVar)
}

// A model the list took for search-capable but the API refuses the tool to:
// the model setting is at fault.
func TestToolNotSupportedNamesModel(t *testing.T) {
	c, _ := serve(t, searchModel, 400, []byte(`{"error":{"message":"Tool 'web_search' is not supported with this model.",
		"type":"invalid_request_error","param":"tools","code":null}}`))
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Equal(t, openai.ModelEnvVar, pe.EnvVar)
	require.Contains(t, pe.Message, "web_search")
}

// The jurisdiction's domains narrow the web_search tool:
// filters.allowed_domains, subdomains included by the API.
func TestAllowedDomainsFilterTheSearch(t *testing.T) {
	c, got := serve(t, searchModel, 200, providerfake.OpenAI.Success(providerfake.Completion{Model: searchModel, Content: "{}"}))
	req := llmtest.Request()
	req.AllowedDomains = []string{"sfplanning.org", "sfdbi.org"}
	_, err := c.Research(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, []any{map[string]any{"type": "web_search",
		"filters": map[string]any{"allowed_domains": []any{"sfplanning.org", "sfdbi.org"}}}}, (*got)["tools"])
}
