package gemini_test

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

	"github.com/codecheck/codecheck/adapters/llm/gemini"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/llmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clearEnv empties the variables the SDK would read by itself, so only the
// adapter's Config counts.
func clearEnv(t *testing.T) {
	for _, v := range []string{"GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL",
		"GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION"} {
		t.Setenv(v, "")
	}
}

func TestContract(t *testing.T) {
	clearEnv(t)
	llmtest.Exercise(t, llmtest.Provider{
		Name: "gemini",
		New: func(t *testing.T, srv llmtest.Server) ports.LLM {
			c, err := gemini.New(gemini.Config{APIKey: srv.APIKey, BaseURL: srv.URL, Model: srv.Model,
				Timeout: srv.Timeout, HTTPClient: srv.HTTPClient})
			require.NoError(t, err)
			return c
		},
		Caps:        llmtest.Capabilities{Grounded: true},
		Wire:        wire{},
		Expect:      llmtest.Expect{Path: "/v1beta/models/" + llmtest.Model + ":generateContent", Auth: llmtest.Key, SearchTool: true},
		KeyEnvVar:   gemini.KeyEnvVar,
		ModelEnvVar: gemini.ModelEnvVar,
	})
}

// wire speaks the Gemini API's generateContent.
type wire struct{}

type part struct {
	Text string `json:"text"`
}

type content struct {
	Role  string `json:"role"`
	Parts []part `json:"parts"`
}

func (wire) DecodeRequest(t *testing.T, r *http.Request, body []byte) llmtest.CapturedRequest {
	var req struct {
		Contents          []content                    `json:"contents"`
		SystemInstruction *content                     `json:"systemInstruction"`
		Tools             []map[string]json.RawMessage `json:"tools"`
		GenerationConfig  map[string]json.RawMessage   `json:"generationConfig"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("request body: %v", err)
	}
	if r.URL.Query().Get("key") != "" {
		t.Errorf("the key travels in the x-goog-api-key header, not the URL")
	}
	if _, ok := req.GenerationConfig["responseMimeType"]; ok && len(req.Tools) > 0 {
		t.Errorf("Gemini 2.5 rejects a response MIME type together with tools")
	}
	model := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1beta/models/"), ":generateContent")
	c := llmtest.CapturedRequest{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("x-goog-api-key"), Model: model}
	var prompt []string
	if si := req.SystemInstruction; si != nil {
		for _, p := range si.Parts {
			prompt = append(prompt, p.Text)
			c.HasSchema = c.HasSchema || strings.Contains(p.Text, string(llmtest.Schema))
		}
	}
	for _, ct := range req.Contents {
		for _, p := range ct.Parts {
			prompt = append(prompt, ct.Role+": "+p.Text)
		}
	}
	c.Prompt = strings.Join(prompt, "\n")
	for _, tl := range req.Tools {
		if _, ok := tl["googleSearch"]; ok {
			c.HasSearchTool = true
		}
	}
	return c
}

// RenderSuccess fences the JSON the way Gemini often does without a schema:
// the adapter must strip it.
func (wire) RenderSuccess(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, render(a, "```json\n"+a.Content+"\n```", "STOP")
}

// RenderTruncated cuts the answer inside its fence: no closing fence.
func (wire) RenderTruncated(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, render(a, "```json\n"+a.Content, "MAX_TOKENS")
}

func (wire) RenderError(status int, message string) []byte {
	grpc := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
		429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}[status]
	return mustJSON(map[string]any{"error": map[string]any{"code": status, "message": message, "status": grpc}})
}

func render(a llmtest.Answer, text, finish string) []byte {
	var chunks []any
	for _, s := range a.Sources {
		chunks = append(chunks, map[string]any{"web": map[string]any{"uri": s.URL, "title": s.Title}})
	}
	cand := map[string]any{"index": 0, "finishReason": finish,
		"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}}}
	if len(chunks) > 0 {
		cand["groundingMetadata"] = map[string]any{"webSearchQueries": []string{"springfield zoning"},
			"groundingChunks": chunks, "groundingSupports": []any{}}
	}
	return mustJSON(map[string]any{
		"candidates":    []any{cand},
		"usageMetadata": map[string]any{"promptTokenCount": a.Usage.InputTokens, "candidatesTokenCount": a.Usage.OutputTokens, "totalTokenCount": a.Usage.InputTokens + a.Usage.OutputTokens},
		"modelVersion":  a.Model, "responseId": "resp-1",
	})
}

func TestNewValidatesConfig(t *testing.T) {
	clearEnv(t)
	_, err := gemini.New(gemini.Config{})
	require.ErrorContains(t, err, "GEMINI_API_KEY")

	_, err = gemini.New(gemini.Config{APIKey: "k", BaseURL: "generativelanguage.googleapis.com"})
	require.ErrorContains(t, err, "GEMINI_BASE_URL")

	c, err := gemini.New(gemini.Config{APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, "gemini-2.5-flash", c.Model())
	require.Equal(t, "gemini", c.Name())
}

type served struct {
	path, key string
}

func serve(t *testing.T, status int, header http.Header, body string) (*gemini.Client, *served) {
	t.Helper()
	got := &served{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.key = r.URL.Path, r.Header.Get("x-goog-api-key")
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := gemini.New(gemini.Config{APIKey: llmtest.Key, BaseURL: srv.URL, HTTPClient: srv.Client()})
	require.NoError(t, err)
	return c, got
}

func research(t *testing.T, c *gemini.Client) (ports.SectionResponse, *ports.ProviderError) {
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

// The SDK would take key, base URL and backend from the environment; the
// adapter's Config must win.
func TestEnvironmentDoesNotLeakIn(t *testing.T) {
	clearEnv(t)
	t.Setenv("GOOGLE_API_KEY", "env-google-key")
	t.Setenv("GEMINI_API_KEY", "env-gemini-key")
	t.Setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:1/")
	t.Setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
	c, got := serve(t, 200, nil, `{"candidates":[{"content":{"parts":[{"text":"{}"}]},"finishReason":"STOP"}]}`)
	_, pe := research(t, c)
	require.Nil(t, pe)
	require.Equal(t, llmtest.Key, got.key)
	require.Equal(t, "/v1beta/models/gemini-2.5-flash:generateContent", got.path)
}

func TestInvalidKeyOn400(t *testing.T) {
	c, _ := serve(t, 400, nil, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
	  "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`)
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Equal(t, gemini.KeyEnvVar, pe.EnvVar)
}

func TestRetryInfoDelay(t *testing.T) {
	c, _ := serve(t, 429, nil, `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED",
	  "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"23s"}]}}`)
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
	require.Equal(t, 23.0, pe.RetryAfter.Seconds())
}

func TestBlockedAnswersArePermanent(t *testing.T) {
	for name, body := range map[string]string{
		"prompt": `{"promptFeedback":{"blockReason":"SAFETY"}}`,
		"answer": `{"candidates":[{"content":{"parts":[]},"finishReason":"SAFETY"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := serve(t, 200, nil, body)
			_, pe := research(t, c)
			require.False(t, pe.Retryable)
			require.Contains(t, pe.Message, "SAFETY")
		})
	}
}

func TestNoCandidatesIsRetryable(t *testing.T) {
	c, _ := serve(t, 200, nil, `{"candidates":[]}`)
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
}

func TestThoughtsAndToolTokens(t *testing.T) {
	body := `{"candidates":[{"content":{"parts":[{"text":"thinking...","thought":true},{"text":"Here it is:\n` + "```json" + `\n{\"a\":1}\n` + "```" + `"}]},"finishReason":"STOP",
	  "groundingMetadata":{"groundingChunks":[
	    {"web":{"uri":"https://vertexaisearch.cloud.google.com/grounding-api-redirect/AAA","title":"springfield.gov"}},
	    {"web":{"uri":"https://vertexaisearch.cloud.google.com/grounding-api-redirect/AAA","title":"springfield.gov"}},
	    {"web":{"uri":"https://vertexaisearch.cloud.google.com/grounding-api-redirect/BBB","title":"Some Blog"}}]}}],
	  "usageMetadata":{"promptTokenCount":100,"toolUsePromptTokenCount":50,"candidatesTokenCount":20,"thoughtsTokenCount":30},
	  "modelVersion":"gemini-2.5-flash-001"}`
	c, _ := serve(t, 200, nil, body)
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Equal(t, `{"a":1}`, resp.Content, "thoughts and prose around the fence are dropped")
	require.EqualValues(t, 150, resp.Usage.InputTokens)
	require.EqualValues(t, 50, resp.Usage.OutputTokens)
	require.Nil(t, resp.Usage.CostUSD)
	require.Equal(t, "gemini-2.5-flash-001", resp.Model)
	require.Len(t, resp.Sources, 2, "one source per URI")
	require.True(t, resp.Sources[0].Official, "the domain in the title marks an official source")
	require.False(t, resp.Sources[1].Official)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
