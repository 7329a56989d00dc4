package perplexity_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/llm/perplexity"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/llmtest"
	"github.com/codecheck/codecheck/test/providerfake"
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

// wire speaks the Agent API through providerfake, the model of the wire
// format the end-to-end tests share: it refuses undocumented request fields
// as the API does.
type wire struct{}

func (wire) DecodeRequest(t *testing.T, r *http.Request, body []byte) llmtest.CapturedRequest {
	c := providerfake.Perplexity.Decode(r, body)
	for _, p := range c.Problems {
		t.Errorf("the request breaks the Agent API: %s\n%s", p, body)
	}
	return llmtest.CapturedRequest{Method: c.Method, Path: c.Path, Auth: r.Header.Get("Authorization"),
		Model: c.Model, HasSchema: c.SchemaIs(llmtest.Schema), HasSearchTool: c.SearchTool, AllowedDomains: c.AllowedDomains, ReadURLs: c.ReadURLs,
		Prompt: c.System + "\n" + c.User}
}

func (wire) RenderSuccess(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, providerfake.Perplexity.Success(providerfake.Completion(a))
}

func (wire) RenderTruncated(a llmtest.Answer) (int, []byte) {
	return http.StatusOK, providerfake.Perplexity.Truncated(providerfake.Completion(a))
}

func (wire) RenderError(status int, message string) []byte {
	return providerfake.Perplexity.Failure(http.Header{}, providerfake.Reply{Status: status, Message: message})
}

func (wire) RenderRunFailure(status, message string) (int, []byte) {
	return http.StatusOK, providerfake.PerplexityRun(llmtest.Model, status,
		&providerfake.RunError{Message: message, Type: "server_error", Code: "upstream_error"})
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
func answer(t *testing.T, status int, header http.Header, body []byte) (*perplexity.Client, *map[string]any) {
	t.Helper()
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
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
	c, got := answer(t, 200, nil, providerfake.Perplexity.Success(providerfake.Completion{Content: "{}"}))
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
			body := providerfake.PerplexityRun("", tc.status, &providerfake.RunError{Message: "it broke", Type: tc.errType})
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
	c, _ := answer(t, 200, nil, providerfake.PerplexityRun("", "in_progress", nil))
	_, pe := research(t, c)
	require.True(t, pe.Retryable)

	c, _ = answer(t, 200, nil, providerfake.PerplexityRun("", "requires_action", nil))
	_, pe = research(t, c)
	require.False(t, pe.Retryable)
}

func TestSourcesFromSeveralSearchSteps(t *testing.T) {
	// Several search steps, a fetch step and a message in two parts: more
	// than the shared model renders.
	body := []byte(`{"status":"completed","model":"perplexity/sonar","output":[
	  {"type":"search_results","results":[{"id":7,"url":"https://a.gov/x","title":"A","snippet":"sa"}]},
	  {"type":"fetch_url_results","contents":[{"url":"https://ignored.example","title":"I","snippet":"i"}]},
	  {"type":"search_results","results":[{"id":3,"url":"https://b.example/y","title":"B","snippet":"sb"}]},
	  {"type":"message","content":[{"type":"output_text","text":"{\"a\":"},{"type":"output_text","text":"1}"}]}],
	  "usage":{"input_tokens":10,"output_tokens":5,"total_tokens":15}}`)
	c, _ := answer(t, 200, nil, body)
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Equal(t, `{"a":1}`, resp.Content)
	require.True(t, resp.Grounded)
	require.Len(t, resp.Sources, 2)
	require.Equal(t, 7, resp.Sources[0].ID, "Perplexity's result id is the number the model cites")
	require.Equal(t, 3, resp.Sources[1].ID)
	require.Equal(t, "https://b.example/y", resp.Sources[1].URL)
	require.True(t, resp.Sources[0].Official)
	require.False(t, resp.Sources[1].Official)
	require.Nil(t, resp.Usage.CostUSD, "no cost reported, none invented")
}

func TestSourcesKeepResultIDsAndDates(t *testing.T) {
	sources := []domain.Source{{ID: 4, URL: "https://www.sanjoseca.gov/zoning", Title: "Zoning", Snippet: "R-1-8"},
		{ID: 9, URL: "https://blog.example.com/adu", Title: "ADU guide", Snippet: "Setbacks"}}
	c, _ := answer(t, 200, nil, providerfake.Perplexity.Success(providerfake.Completion{Content: "{}", Sources: sources}))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Len(t, resp.Sources, 2)
	for i, s := range resp.Sources {
		require.Equal(t, sources[i].ID, s.ID)
		require.Equal(t, sources[i].Snippet, s.Snippet)
		require.Equal(t, "2026-10-01", s.Published, "search_results[].date")
		require.Equal(t, "2026-10-15", s.LastUpdated, "search_results[].last_updated")
	}
}

func TestResultsWithoutIDsOrDates(t *testing.T) {
	body := []byte(`{"status":"completed","model":"perplexity/sonar","output":[
	  {"type":"search_results","results":[{"url":"https://a.gov/x","title":"A"},{"url":"https://b.example/y","title":"B","date":"2025-03-02"}]},
	  {"type":"message","content":[{"type":"output_text","text":"{}"}]}]}`)
	c, _ := answer(t, 200, nil, body)
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.Equal(t, []int{1, 2}, []int{resp.Sources[0].ID, resp.Sources[1].ID}, "numbered by position")
	require.Empty(t, resp.Sources[0].Published)
	require.Empty(t, resp.Sources[0].LastUpdated)
	require.Equal(t, "2025-03-02", resp.Sources[1].Published)
}

func TestUngroundedAnswer(t *testing.T) {
	c, _ := answer(t, 200, nil, providerfake.Perplexity.Success(providerfake.Completion{Content: "{}"}))
	resp, pe := research(t, c)
	require.Nil(t, pe)
	require.False(t, resp.Grounded)
	require.Empty(t, resp.Sources)
}

func TestCompletedWithoutTextIsRetryable(t *testing.T) {
	c, _ := answer(t, 200, nil, providerfake.Perplexity.Success(providerfake.Completion{}))
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
}

func TestRetryAfterHTTPDate(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	c, _ := answer(t, 503, http.Header{"Retry-After": {at}},
		providerfake.Perplexity.Failure(http.Header{}, providerfake.Reply{Status: 503, Message: "busy"}))
	_, pe := research(t, c)
	require.True(t, pe.Retryable)
	require.InDelta(t, 90, pe.RetryAfter.Seconds(), 2)
}

func TestKeyEchoedByServerIsRedacted(t *testing.T) {
	status, body := providerfake.Perplexity.AuthFailure(llmtest.Key)
	c, _ := answer(t, status, nil, body)
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

// The jurisdiction's domains narrow the web_search tool: an allowlist in
// tools[].filters.search_domain_filter.
func TestAllowedDomainsFilterTheSearch(t *testing.T) {
	c, got := answer(t, 200, nil, providerfake.Perplexity.Success(providerfake.Completion{Content: "{}"}))
	req := llmtest.Request()
	req.AllowedDomains = []string{"sfplanning.org", "sfdbi.org"}
	_, err := c.Research(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, []any{map[string]any{"type": "web_search",
		"filters": map[string]any{"search_domain_filter": []any{"sfplanning.org", "sfdbi.org"}}}}, (*got)["tools"])
}
