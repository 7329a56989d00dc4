package openai_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
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

// wire speaks OpenAI chat completions through providerfake, the model of the
// wire format the end-to-end tests share.
type wire struct{}

func (wire) DecodeRequest(t *testing.T, r *http.Request, body []byte) llmtest.CapturedRequest {
	c := providerfake.OpenAI.Decode(r, body)
	for _, p := range c.Problems {
		t.Errorf("the request breaks the chat completions API: %s", p)
	}
	if !slices.Equal(c.Roles, []string{"system", "user"}) {
		t.Errorf("want a system and a user message, got %v", c.Roles)
	}
	return llmtest.CapturedRequest{Method: c.Method, Path: c.Path, Auth: r.Header.Get("Authorization"),
		Model: c.Model, HasSchema: c.SchemaIs(llmtest.Schema), HasSearchTool: c.SearchTool,
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

func serve(t *testing.T, model string, status int, body []byte) *openai.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
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

// choice is a body with one choice, for the answers the shared model does
// not render: refusals, filtered answers.
func choice(message, finish string) []byte {
	return []byte(`{"model":"gpt-4.1-mini-2025-04-14","choices":[{"index":0,"finish_reason":"` + finish + `","message":` + message + `}],
	"usage":{"prompt_tokens":3,"completion_tokens":4}}`)
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
	c := serve(t, "", 200, []byte(`{"choices":[]}`))
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
}

func TestInsufficientQuotaIsPermanent(t *testing.T) {
	c := serve(t, "", 429, providerfake.OpenAI.Failure(http.Header{},
		providerfake.Reply{Status: 429, Code: "insufficient_quota", Message: "You exceeded your current quota"}))
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Equal(t, openai.KeyEnvVar, pe.EnvVar)
	require.Contains(t, pe.Message, "quota")
}

func TestModelNotFoundOn400(t *testing.T) {
	c := serve(t, "", 400, providerfake.OpenAI.Failure(http.Header{},
		providerfake.Reply{Status: 400, Code: "model_not_found", Message: "The model does not exist"}))
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Equal(t, openai.ModelEnvVar, pe.EnvVar)
}

func TestResponseModelAndUsage(t *testing.T) {
	c := serve(t, "", 200, providerfake.OpenAI.Success(providerfake.Completion{Model: "gpt-4.1-mini-2025-04-14",
		Content: "{}", Usage: domain.Usage{InputTokens: 3, OutputTokens: 4}}))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Equal(t, "gpt-4.1-mini-2025-04-14", resp.Model)
	require.EqualValues(t, 3, resp.Usage.InputTokens)
	require.EqualValues(t, 4, resp.Usage.OutputTokens)
	require.False(t, resp.Grounded)
}

func TestSearchModelCitationsDeduplicated(t *testing.T) {
	c := serve(t, "gpt-4o-search-preview", 200, providerfake.OpenAI.Success(providerfake.Completion{Content: "{}",
		Sources: []domain.Source{{URL: "https://a.gov/1", Title: "A"}, {URL: "https://b.example/2", Title: "B"},
			{URL: "https://a.gov/1", Title: "A again"}}}))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.True(t, resp.Grounded)
	require.Len(t, resp.Sources, 2)
	require.Equal(t, "https://b.example/2", resp.Sources[1].URL)
	require.Equal(t, 2, resp.Sources[1].ID)
	require.True(t, resp.Sources[0].Official)
}

func TestSearchModelWithoutCitationsIsUngrounded(t *testing.T) {
	c := serve(t, "gpt-4o-search-preview", 200, providerfake.OpenAI.Success(providerfake.Completion{Content: "{}"}))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.False(t, resp.Grounded)
	require.Empty(t, resp.Sources)
}
