package gemini_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/llm/gemini"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/llmtest"
	"github.com/codecheck/codecheck/test/providerfake"
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

// wire speaks generateContent through providerfake, the model of the wire
// format the end-to-end tests share. Its answers fence the JSON the way
// Gemini often does without a schema: the adapter must strip the fence.
type wire struct{}

func (wire) DecodeRequest(t *testing.T, r *http.Request, body []byte) llmtest.CapturedRequest {
	c := providerfake.Gemini.Decode(r, body)
	for _, p := range c.Problems {
		t.Errorf("the request breaks the Gemini API: %s", p)
	}
	return llmtest.CapturedRequest{Method: c.Method, Path: c.Path, Auth: c.Key, Model: c.Model,
		HasSchema: strings.Contains(c.System, string(llmtest.Schema)), HasSearchTool: c.SearchTool, AllowedDomains: c.AllowedDomains, ReadURLs: c.ReadURLs,
		Prompt: c.System + "\n" + c.User}
}

func (wire) RenderSuccess(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, providerfake.Gemini.Success(providerfake.Completion(a))
}

func (wire) RenderTruncated(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, providerfake.Gemini.Truncated(providerfake.Completion(a))
}

func (wire) RenderError(status int, message string) []byte {
	return providerfake.Gemini.Failure(http.Header{}, providerfake.Reply{Status: status, Message: message})
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

// serve answers every request with status and body and returns a client
// pointed at it, plus the last request as Gemini reads it.
func serve(t *testing.T, status int, body []byte) (*gemini.Client, *providerfake.Call) {
	t.Helper()
	got := &providerfake.Call{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := io.ReadAll(r.Body)
		*got = providerfake.Gemini.Decode(r, req)
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
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
	c, got := serve(t, 200, providerfake.Gemini.Success(providerfake.Completion{Content: "{}"}))
	_, pe := research(t, c)
	require.Nil(t, pe)
	require.Empty(t, got.Problems)
	require.Equal(t, llmtest.Key, got.Key)
	require.Equal(t, "/v1beta/models/gemini-2.5-flash:generateContent", got.Path)
}

func TestInvalidKeyOn400(t *testing.T) {
	status, body := providerfake.Gemini.AuthFailure(llmtest.Key)
	require.Equal(t, http.StatusBadRequest, status, "Gemini answers a bad key with 400, not 401")
	c, _ := serve(t, status, body)
	_, pe := research(t, c)
	require.False(t, pe.Retryable)
	require.Equal(t, gemini.KeyEnvVar, pe.EnvVar)
}

func TestRetryInfoDelay(t *testing.T) {
	c, _ := serve(t, 429, providerfake.Gemini.Failure(http.Header{},
		providerfake.Reply{Status: 429, RetryAfter: 23 * time.Second, Message: "Resource has been exhausted"}))
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
			c, _ := serve(t, 200, []byte(body))
			_, pe := research(t, c)
			require.False(t, pe.Retryable)
			require.Contains(t, pe.Message, "SAFETY")
		})
	}
}

func TestNoCandidatesIsRetryable(t *testing.T) {
	c, _ := serve(t, 200, []byte(`{"candidates":[]}`))
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
}

// Thoughts, prose around the fence, repeated chunks and tool tokens: more
// than the shared model renders.
func TestThoughtsAndToolTokens(t *testing.T) {
	body := []byte(`{"candidates":[{"content":{"parts":[{"text":"thinking...","thought":true},{"text":"Here it is:\n` + "```json" + `\n{\"a\":1}\n` + "```" + `"}]},"finishReason":"STOP",
	  "groundingMetadata":{"groundingChunks":[
	    {"web":{"uri":"https://vertexaisearch.cloud.google.com/grounding-api-redirect/AAA","title":"springfield.gov"}},
	    {"web":{"uri":"https://vertexaisearch.cloud.google.com/grounding-api-redirect/AAA","title":"springfield.gov"}},
	    {"web":{"uri":"https://vertexaisearch.cloud.google.com/grounding-api-redirect/BBB","title":"Some Blog"}}]}}],
	  "usageMetadata":{"promptTokenCount":100,"toolUsePromptTokenCount":50,"candidatesTokenCount":20,"thoughtsTokenCount":30},
	  "modelVersion":"gemini-2.5-flash-001"}`)
	c, _ := serve(t, 200, body)
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

func TestGroundingSupportsBecomeSpans(t *testing.T) {
	// Chunk 2 repeats chunk 0's page; a support naming a chunk without a web
	// source or with no text is left out.
	body := []byte(`{"candidates":[{"finishReason":"STOP","content":{"role":"model","parts":[{"text":"{\"findings\":[]}"}]},
	  "groundingMetadata":{"groundingChunks":[
	    {"web":{"uri":"https://r.example/a","title":"sanjoseca.gov"}},
	    {"web":{"uri":"https://r.example/b","title":"blog.example.com"}},
	    {"web":{"uri":"https://r.example/a","title":"sanjoseca.gov"}},
	    {"retrievedContext":{"uri":"gs://x"}}],
	  "groundingSupports":[
	    {"segment":{"startIndex":0,"endIndex":20,"text":"Front setback 20 ft"},"groundingChunkIndices":[2,1]},
	    {"segment":{"text":"only a non-web chunk"},"groundingChunkIndices":[3]},
	    {"segment":{"text":""},"groundingChunkIndices":[0]}]}}],
	  "modelVersion":"gemini-2.5-flash"}`)
	c, _ := serve(t, 200, body)
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Len(t, resp.Sources, 2)
	require.Equal(t, []ports.GroundingSpan{{Text: "Front setback 20 ft", SourceIDs: []int{1, 2}}}, resp.Spans)
}

func TestFakeGroundsEachQuoteOnItsChunks(t *testing.T) {
	content := `{"findings":[{"label":"Setback","value":"20 ft","quote":"front setback of 20 feet","source_ids":[2]},` +
		`{"label":"Height","value":"30 ft","quote":"","source_ids":[1]}]}`
	srcs := []domain.Source{{URL: "https://www.sanjoseca.gov/a", Title: "A"}, {URL: "https://blog.example.com/b", Title: "B"}}
	c, _ := serve(t, 200, providerfake.Gemini.Success(providerfake.Completion{Content: content, Sources: srcs}))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Equal(t, []ports.GroundingSpan{{Text: "front setback of 20 feet", SourceIDs: []int{2}}}, resp.Spans)
}

// Google Search grounding has no domain filter: the prompt asks for
// site-restricted queries, and the search tool stays on.
func TestAllowedDomainsBecomeSiteRestrictedQueries(t *testing.T) {
	c, got := serve(t, 200, providerfake.Gemini.Success(providerfake.Completion{Content: "{}"}))
	req := llmtest.Request()
	req.AllowedDomains = []string{"sfplanning.org", "sfdbi.org"}
	_, err := c.Research(context.Background(), req)
	require.NoError(t, err)
	require.Contains(t, got.User, llmtest.UserMarker)
	require.Contains(t, got.User, "(site:sfplanning.org OR site:sfdbi.org)")
	require.Equal(t, []string{"sfplanning.org", "sfdbi.org"}, got.AllowedDomains)
	require.True(t, got.SearchTool)
}
