package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	httpapi "github.com/codecheck/codecheck/adapters/http"
)

// The server mounts the web page at / and the embedded docs at /docs (not
// Huma's CDN page), open like the spec even with API keys; other paths stay
// problem 404s.
func TestPageAndDocsMounted(t *testing.T) {
	e := newEnv(t, withKeys("k"))
	page := e.do(http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, page.StatusCode)
	require.Contains(t, string(page.body), `<script src="/assets/app.js" defer></script>`)
	require.Contains(t, page.Header.Get("Content-Security-Policy"), "default-src 'none'")

	docs := e.do(http.MethodGet, "/docs", nil)
	require.Equal(t, http.StatusOK, docs.StatusCode)
	require.Contains(t, string(docs.body), "/assets/swagger-ui/swagger-ui-bundle.js")
	require.NotContains(t, string(docs.body), "unpkg.com")
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/assets/swagger-ui/swagger-ui.css", nil).StatusCode)

	e.do(http.MethodGet, "/index.html", nil).problem(t, http.StatusNotFound)
	e.do(http.MethodGet, "/jobs", nil).problem(t, http.StatusUnauthorized)
}

// The example body the docs page's "Try it" sends for POST /jobs succeeds
// on a server that has only the fake provider.
func TestSubmitExampleSucceedsWithOnlyTheFakeProvider(t *testing.T) {
	raw, err := httpapi.Spec(false)
	require.NoError(t, err)
	var spec struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Example map[string]any `json:"example"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &spec))
	example := spec.Paths["/jobs"]["post"].RequestBody.Content["application/json"].Example
	require.Equal(t, "fake", example["llm_provider"])
	require.NotContains(t, example, "webhook_url", "webhooks need CODECHECK_WEBHOOK_SECRET")

	e := newEnv(t) // its only provider is "fake"
	v := e.submit(example)
	require.Equal(t, "fake", v.LLMProvider)
	require.True(t, strings.HasPrefix(v.Address, "1600 Pennsylvania"))
}
