package openai_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/codecheck/codecheck/adapters/llm/openai"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/test/contract/llmtest"
	"github.com/codecheck/codecheck/test/providerfake"
)

// FuzzResponse feeds Research (go-openai's decoding, then the adapter's
// reading of the Responses API output items) arbitrary response bodies,
// statuses and Retry-After values, and checks what comes back: an answer
// with trimmed text (or marked truncated) whose sources are numbered 1..n,
// one per URL, Grounded exactly when there are some, and whose spans are
// text of the answer naming only those sources; or a *ports.ProviderError
// from this provider, with a bounded message, that never contains the API
// key. "@K" in a body stands for the key.
func FuzzResponse(f *testing.F) {
	for _, s := range openaiSeeds() {
		f.Add(s.status, s.retryAfter, s.body)
	}
	f.Fuzz(func(t *testing.T, status uint16, retryAfter string, body []byte) {
		code := llmtest.FuzzStatus(status)
		c, err := openai.New(openai.Config{APIKey: llmtest.Key, BaseURL: "https://openai.invalid/v1", Model: searchModel,
			HTTPClient: &http.Client{Transport: llmtest.Canned(code, retryAfter, body)}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Research(context.Background(), llmtest.Request())
		if err != nil {
			llmtest.RequireFuzzError(t, err, "openai")
			return
		}
		if code < 200 || code > 299 {
			t.Fatalf("HTTP %d answered without an error", code)
		}
		llmtest.RequireFuzzAnswer(t, resp, true)
		for _, sp := range resp.Spans {
			if !strings.Contains(resp.Content, sp.Text) {
				t.Fatalf("span %q is not text of the answer", sp.Text)
			}
		}
	})
}

type responseSeed struct {
	status     uint16
	retryAfter string
	body       []byte
}

func openaiSeeds() []responseSeed {
	sources := []domain.Source{
		{ID: 1, URL: "https://www.sanjoseca.gov/planning", Title: "Planning"},
		{ID: 2, URL: "https://library.municode.com/ca/san_jose", Title: "Code"},
		{ID: 3, URL: "https://www.sanjoseca.gov/planning", Title: "Planning again"},
	}
	content := `{"summary":"R-1.","outcome":"found","confidence":"high","confidence_reason":"code","findings":[` +
		`{"label":"District","value":"R-1","code_reference":"","source_ids":[1],"quote":"Zoning R-1","code_edition":null,` +
		`"effective_date":null}],"needs_verification":false,"verify_with":""}`
	ok := providerfake.Completion{Model: searchModel, Content: content, Sources: sources,
		Usage: domain.Usage{InputTokens: 10, OutputTokens: 5}}
	h := http.Header{}
	return []responseSeed{
		{200, "", providerfake.OpenAI.Success(ok)},
		{200, "", providerfake.OpenAI.Truncated(ok)},
		{200, "", providerfake.OpenAIResponse(searchModel, "failed", &providerfake.RunError{Message: "@K", Code: "invalid_prompt"})},
		{200, "", providerfake.OpenAIResponse(searchModel, "cancelled", nil)},
		{200, "", providerfake.OpenAIResponse(searchModel, "queued", nil)},
		{200, "", providerfake.OpenAIResponse(searchModel, "@K", nil)},
		{200, "", []byte(`{"status":"incomplete","incomplete_details":{"reason":"content_filter"},"output":[]}`)},
		{200, "", []byte(`{"status":"completed","output":[{"type":"message","content":[{"type":"refusal","refusal":"no @K"}]}]}`)},
		{200, "", []byte(`{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":" héllo ",` +
			`"annotations":[{"type":"url_citation","url":"https://a.gov/x","start_index":1,"end_index":3},` +
			`{"type":"url_citation","url":"https://a.gov/x","start_index":5,"end_index":2},` +
			`{"type":"url_citation","url":"","start_index":-1,"end_index":99}]}]},` +
			`{"type":"web_search_call","action":{"type":"search","sources":[{"type":"api","url":"oai-weather"},{"url":"https://b.org"}]}}]}`)},
		{200, "", []byte(`{"status":"completed","output":[{"type":"message","content":"text"}]}`)},
		{200, "", []byte(`{"status":"completed","output":[1,"x",null]}`)},
		{200, "", []byte(`{"status":"completed","usage":{"input_tokens":-1}}`)},
		{200, "", []byte(`{"status":"completed"`)},
		{200, "", []byte("<html>@K</html>")},
		{200, "", []byte("")},
		{401, "", mustAuthFailure()},
		{429, "2", providerfake.OpenAI.Failure(h, providerfake.Reply{Status: 429, Message: "slow down", Code: "insufficient_quota"})},
		{400, "", []byte(`{"error":{"message":"tools not supported","type":"invalid_request_error","param":"tools[0]","code":null}}`)},
		{404, "", providerfake.OpenAI.Failure(h, providerfake.Reply{Status: 404, Message: "The model @K does not exist"})},
		{500, "", providerfake.OpenAI.Failure(h, providerfake.Reply{Status: 500, Message: strings.Repeat("@K", 300)})},
		{502, "", []byte("<html><body>Bad Gateway</body></html>")},
		{200, "", providerfake.OpenAIResponse(searchModel, "failed", &providerfake.RunError{Message: strings.Repeat("a", 239) + "ééé"})},
		{503, "soon", []byte(`{"error":"@K"}`)},
	}
}

func mustAuthFailure() []byte {
	_, body := providerfake.OpenAI.AuthFailure(llmtest.Key)
	return body
}
