package gemini_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/codecheck/codecheck/adapters/llm/gemini"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
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
		code := fuzzStatus(status)
		c, err := gemini.New(gemini.Config{APIKey: llmtest.Key, BaseURL: "https://gemini.invalid",
			HTTPClient: &http.Client{Transport: canned(code, retryAfter, body)}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Research(context.Background(), llmtest.Request())
		if err != nil {
			requireProviderError(t, err, "gemini")
			return
		}
		if code < 200 || code > 299 {
			t.Fatalf("HTTP %d answered without an error", code)
		}
		requireAnswer(t, resp)
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

// fuzzStatus keeps statuses the client sees as final: 2xx, 4xx and 5xx
// (a 1xx or 3xx is the transport's business); 0 and others become 200.
func fuzzStatus(s uint16) int {
	if code := int(s); code >= 200 && code <= 599 && (code < 300 || code >= 400) {
		return code
	}
	return http.StatusOK
}

// canned answers every request with status, Retry-After and body, with
// "@K" replaced by the API key.
func canned(status int, retryAfter string, body []byte) http.RoundTripper {
	body = bytes.ReplaceAll(body, []byte("@K"), []byte(llmtest.Key))
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			_, _ = io.Copy(io.Discard, req.Body)
			_ = req.Body.Close()
		}
		h := http.Header{"Content-Type": {"application/json"}}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Request: req,
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// maxMessage bounds a provider error's message: the adapter keeps at most a
// few hundred characters of what the provider said.
const maxMessage = 600

func requireProviderError(t *testing.T, err error, provider string) {
	t.Helper()
	var pe *ports.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("unclassified error %T: %v", err, err)
	}
	if pe.Provider != provider || pe.Message == "" || len(pe.Message) > maxMessage {
		t.Fatalf("provider %q, message of %d bytes: %q", pe.Provider, len(pe.Message), pe.Message)
	}
	if strings.Contains(err.Error(), llmtest.Key) {
		t.Fatalf("the error leaks the API key: %s", err)
	}
	if !utf8.ValidString(err.Error()) {
		// It becomes the job's error, which Postgres refuses to store.
		t.Fatalf("the error is not valid UTF-8: %q", err)
	}
}

// requireAnswer checks an answer whose sources the adapter numbers 1..n,
// one per URL, and whose spans name only those.
func requireAnswer(t *testing.T, resp ports.SectionResponse) {
	t.Helper()
	if resp.Content == "" && !resp.Truncated {
		t.Fatal("an answer without text")
	}
	if resp.Content != strings.TrimSpace(resp.Content) {
		t.Fatalf("content not trimmed: %q", resp.Content)
	}
	if resp.Grounded != (len(resp.Sources) > 0) {
		t.Fatalf("grounded %v with %d sources", resp.Grounded, len(resp.Sources))
	}
	urls := map[string]bool{}
	for i, s := range resp.Sources {
		if s.ID != i+1 || s.URL == "" || urls[s.URL] {
			t.Fatalf("sources not numbered 1..n, one per URL: %+v", resp.Sources)
		}
		urls[s.URL] = true
	}
	for _, sp := range resp.Spans {
		if strings.TrimSpace(sp.Text) == "" || len(sp.SourceIDs) == 0 {
			t.Fatalf("empty span %+v", sp)
		}
		for _, id := range sp.SourceIDs {
			if id < 1 || id > len(resp.Sources) {
				t.Fatalf("span %q names source %d of %d", sp.Text, id, len(resp.Sources))
			}
		}
		if ids := slices.Compact(slices.Sorted(slices.Values(sp.SourceIDs))); len(ids) != len(sp.SourceIDs) {
			t.Fatalf("span %q names a source twice: %v", sp.Text, sp.SourceIDs)
		}
	}
	if resp.Model == "" {
		t.Fatal("an answer without model")
	}
}
