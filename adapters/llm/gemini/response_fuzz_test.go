package gemini_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/codecheck/codecheck/adapters/llm/gemini"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/contract/llmtest"
	"github.com/codecheck/codecheck/test/providerfake"
)

// FuzzResponse feeds Research (the genai SDK's decoding, then the
// adapter's reading of the candidate, its grounding metadata and the
// prompt feedback) arbitrary response bodies, statuses and Retry-After
// values, and checks what comes back: an answer with trimmed text (or
// marked truncated) whose sources are numbered 1..n, one per URI, Grounded
// exactly when there are some, and whose spans name only those sources; or
// a *ports.ProviderError from this provider, with a bounded message, that
// never contains the API key. "@K" in a body stands for the key.
func FuzzResponse(f *testing.F) {
	for _, v := range []string{"GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL",
		"GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION"} {
		f.Setenv(v, "")
	}
	for _, s := range geminiSeeds() {
		f.Add(s.status, s.retryAfter, s.body)
	}
	f.Fuzz(func(t *testing.T, status uint16, retryAfter string, body []byte) {
		code := llmtest.FuzzStatus(status)
		c, err := gemini.New(gemini.Config{APIKey: llmtest.Key, BaseURL: "https://gemini.invalid",
			HTTPClient: &http.Client{Transport: llmtest.Canned(code, retryAfter, body)}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Research(context.Background(), llmtest.Request())
		if err != nil {
			llmtest.RequireFuzzError(t, err, "gemini")
			return
		}
		if code < 200 || code > 299 {
			t.Fatalf("HTTP %d answered without an error", code)
		}
		llmtest.RequireFuzzAnswer(t, resp, true)
	})
}

type responseSeed struct {
	status     uint16
	retryAfter string
	body       []byte
}

func geminiSeeds() []responseSeed {
	sources := []domain.Source{
		{ID: 1, URL: providerfake.GeminiRedirectURL(1), Title: "sanjoseca.gov"},
		{ID: 2, URL: providerfake.GeminiRedirectURL(2), Title: "library.municode.com"},
		{ID: 3, URL: providerfake.GeminiRedirectURL(1), Title: "sanjoseca.gov"},
	}
	content := `{"summary":"R-1.","outcome":"found","confidence":"high","confidence_reason":"code","findings":[` +
		`{"label":"District","value":"R-1","code_reference":"","source_ids":[1,2],"quote":"Zoning R-1","code_edition":null,` +
		`"effective_date":null}],"needs_verification":false,"verify_with":""}`
	ok := providerfake.Completion{Model: "gemini-2.5-flash", Content: content, Sources: sources,
		Usage: domain.Usage{InputTokens: 10, OutputTokens: 5}}
	return []responseSeed{
		{200, "", providerfake.Gemini.Success(ok)},
		{200, "", providerfake.Gemini.Truncated(ok)},
		{200, "", []byte(`{"candidates":[{"finishReason":"SAFETY","content":{"parts":[{"text":"x"}]}}]}`)},
		{200, "", []byte(`{"candidates":[{"finishReason":"@K","content":{"parts":[{"text":" "}]}}]}`)},
		{200, "", []byte(`{"promptFeedback":{"blockReason":"@K"}}`)},
		{200, "", []byte(`{"promptFeedback":{"blockReason":"SAFETY"},"candidates":[]}`)},
		{200, "", []byte(`{"candidates":[null]}`)},
		{200, "", []byte(`{"candidates":[{"content":{"parts":[null,{"thought":true,"text":"hmm"},{"text":"` + "```json\\n{}" + `"}]},` +
			`"groundingMetadata":{"groundingChunks":[null,{"web":{"uri":"https://a.gov/x","title":"a.gov"}},{"web":{"uri":""}},` +
			`{"web":{"uri":"https://a.gov/x"}}],"groundingSupports":[null,{"segment":{"text":"{}"},"groundingChunkIndices":[-1,1,3,99]},` +
			`{"segment":{"text":"  "},"groundingChunkIndices":[1]}]}}],"usageMetadata":{"promptTokenCount":-5}}`)},
		{200, "", []byte(`{"candidates":[{"content":{"parts":[{"text":"` + "```" + `"}]}}]}`)},
		{200, "", []byte(`{"candidates":{}}`)},
		{200, "", []byte(`{"candidates":[`)},
		{200, "", []byte("<html>@K</html>")},
		{200, "", []byte("")},
		{400, "", mustAuthFailure()},
		{400, "", []byte(`{"error":{"code":400,"message":"API key not valid: @K","status":"INVALID_ARGUMENT"}}`)},
		{429, "", providerfake.Gemini.Failure(http.Header{}, providerfake.Reply{Status: 429, Message: "quota", RetryAfter: 7e9})},
		{429, "", []byte(`{"error":{"code":429,"details":[{"@type":"google.rpc.RetryInfo","retryDelay":"-3s"},{"reason":7}]}}`)},
		{500, "", []byte(`{"error":{"code":"x","message":"` + strings.Repeat("@K", 300) + `"}}`)},
		{503, "12", []byte("<html><body>Service Unavailable @K</body></html>")},
		{404, "", []byte(`{"error":{"code":0,"status":"@K"}}`)},
		{500, "", providerfake.Gemini.Failure(http.Header{}, providerfake.Reply{Status: 500, Message: strings.Repeat("a", 239) + "ééé"})},
	}
}

func mustAuthFailure() []byte {
	_, body := providerfake.Gemini.AuthFailure(llmtest.Key)
	return body
}
