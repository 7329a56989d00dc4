package perplexity_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/codecheck/codecheck/adapters/llm/perplexity"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/contract/llmtest"
	"github.com/codecheck/codecheck/test/providerfake"
)

// FuzzResponse feeds Research arbitrary response bodies (and statuses and
// Retry-After values) and checks what comes back: an answer with text (or
// marked truncated), trimmed, with sources that have URLs and Grounded
// exactly when there are some; or a *ports.ProviderError from this
// provider, with a bounded message, that never contains the API key.
// "@K" in a body stands for the key, so the fuzzer can place it anywhere a
// provider might echo it.
func FuzzResponse(f *testing.F) {
	for _, s := range perplexitySeeds() {
		f.Add(s.status, s.retryAfter, s.body)
	}
	f.Fuzz(func(t *testing.T, status uint16, retryAfter string, body []byte) {
		code := llmtest.FuzzStatus(status)
		c, err := perplexity.New(perplexity.Config{APIKey: llmtest.Key, BaseURL: "https://perplexity.invalid",
			HTTPClient: &http.Client{Transport: llmtest.Canned(code, retryAfter, body)}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Research(context.Background(), llmtest.Request())
		if err != nil {
			llmtest.RequireFuzzError(t, err, "perplexity")
			return
		}
		if code < 200 || code > 299 {
			t.Fatalf("HTTP %d answered without an error", code)
		}
		llmtest.RequireFuzzAnswer(t, resp, false)
	})
}

type responseSeed struct {
	status     uint16
	retryAfter string
	body       []byte
}

func perplexitySeeds() []responseSeed {
	sources := []domain.Source{
		{ID: 1, URL: "https://www.sanjoseca.gov/planning", Title: "Planning", Snippet: "PBCE reviews development..."},
		{ID: 2, URL: "https://library.municode.com/ca/san_jose", Title: "Code", Snippet: "Title 20 ZONING..."},
		{ID: 0, URL: "", Title: "no url"},
	}
	content := `{"summary":"R-1.","outcome":"found","confidence":"high","confidence_reason":"code","findings":[],` +
		`"needs_verification":false,"verify_with":""}`
	ok := providerfake.Completion{Model: "sonar-pro", Content: content, Sources: sources,
		Usage: domain.Usage{InputTokens: 10, OutputTokens: 5}}
	h := http.Header{}
	return []responseSeed{
		{200, "", providerfake.Perplexity.Success(ok)},
		{200, "", providerfake.Perplexity.Truncated(ok)},
		{200, "", providerfake.Perplexity.Success(providerfake.Completion{Model: "m", Content: "   "})},
		{200, "", providerfake.PerplexityRun("m", "failed", &providerfake.RunError{Message: "bad key @K", Type: "authentication_error"})},
		{200, "", providerfake.PerplexityRun("m", "cancelled", &providerfake.RunError{Message: "<html>@K</html>"})},
		{200, "", providerfake.PerplexityRun("m", "in_progress", nil)},
		{200, "", providerfake.PerplexityRun("m", "@K", nil)},
		{200, "", []byte(`{"status":"failed","error":{"message":"x","type":"invalid","code":42}}`)},
		{200, "", []byte(`{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"{}"}]},` +
			`{"type":"search_results","results":[{"id":-3,"url":"mailto:@K"},{"url":"https://a.gov/@K"}]}],"usage":{"cost":{"total_cost":null}}}`)},
		{200, "", []byte(`{"status":"completed","output":[{"type":"message","content":null}]`)},
		{200, "", []byte(`{"status":"completed","output":{"type":"message"}}`)},
		{200, "", []byte("<!doctype html><html>bad gateway @K</html>")},
		{200, "", []byte("")},
		{200, "", []byte("null")},
		{401, "", mustAuthFailure()},
		{429, "7", providerfake.Perplexity.Failure(h, providerfake.Reply{Status: 429, Message: "slow down"})},
		{429, "Wed, 21 Oct 2099 07:28:00 GMT", []byte(`{"error":{"message":"@K","code":"rate"}}`)},
		{500, "-1", providerfake.Perplexity.Failure(h, providerfake.Reply{Status: 500, Message: strings.Repeat("@K ", 200)})},
		{503, "", []byte("<html><body>Service Unavailable</body></html>")},
		{500, "", providerfake.Perplexity.Failure(h, providerfake.Reply{Status: 500, Message: strings.Repeat("a", 239) + "ééé"})},
		{404, "", []byte(`{"error":null}`)},
	}
}

func mustAuthFailure() []byte {
	_, body := providerfake.Perplexity.AuthFailure(llmtest.Key)
	return body
}
