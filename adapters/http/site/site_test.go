package site_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/http/site"
)

func newServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	site.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

// references are the URLs an HTML page loads or links to.
var references = regexp.MustCompile(`(?i)\b(?:src|href|data-spec-url)\s*=\s*"([^"]*)"`)

// absoluteURL is any URL naming a scheme and host, or a protocol-relative one.
var absoluteURL = regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+`)

// The page and the docs load nothing from another host: every reference in
// their HTML is a path on this server that answers 200, our own scripts
// name no absolute URL, the CSP allows only 'self', and Swagger UI's
// validator badge (its one default request to another host) is off.
func TestPagesReferenceNoExternalURL(t *testing.T) {
	srv := newServer(t)
	for _, page := range []string{site.PagePath, site.DocsPath} {
		res, html := get(t, srv, page)
		require.Equal(t, http.StatusOK, res.StatusCode, page)
		require.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "text/html"), page)
		csp := res.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "default-src 'none'", page)
		require.Contains(t, csp, "script-src 'self';", page)
		require.Contains(t, csp, "connect-src 'self';", page)
		require.NotRegexp(t, absoluteURL, html, "%s names an absolute URL", page)
		refs := references.FindAllStringSubmatch(html, -1)
		require.NotEmpty(t, refs, page)
		loaded := 0
		for _, m := range refs {
			ref := m[1]
			if strings.HasPrefix(ref, "#") {
				continue // a place on the same page
			}
			require.True(t, strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "//"), "%s references %q", page, ref)
			res, _ := get(t, srv, ref)
			if strings.HasPrefix(ref, "/openapi") || ref == "/" || ref == site.DocsPath {
				continue // the API's routes, not this package's
			}
			require.Equal(t, http.StatusOK, res.StatusCode, "%s references %s", page, ref)
			loaded++
		}
		require.NotZero(t, loaded, "%s loads its assets from this server", page)
	}
	for _, own := range []string{"/assets/app.js", "/assets/docs.js", "/assets/app.css", "/assets/docs.css"} {
		res, body := get(t, srv, own)
		require.Equal(t, http.StatusOK, res.StatusCode, own)
		require.NotRegexp(t, absoluteURL, body, "%s names an absolute URL", own)
	}
	_, docsJS := get(t, srv, "/assets/docs.js")
	require.Contains(t, docsJS, "validatorUrl: null")
}

// The docs load the vendored Swagger UI, not a CDN copy.
func TestDocsUseVendoredSwaggerUI(t *testing.T) {
	srv := newServer(t)
	_, html := get(t, srv, site.DocsPath)
	for _, cdn := range []string{"unpkg", "jsdelivr", "cdnjs", "stoplight"} {
		require.NotContains(t, strings.ToLower(html), cdn)
	}
	require.Contains(t, html, `src="/assets/swagger-ui/swagger-ui-bundle.js"`)
	require.Contains(t, html, `data-spec-url="/openapi.json"`)
	res, js := get(t, srv, "/assets/swagger-ui/swagger-ui-bundle.js")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript"), res.Header.Get("Content-Type"))
	require.Greater(t, len(js), 1<<20, "the whole bundle is embedded")
	res, readme := get(t, srv, "/assets/swagger-ui/README.md")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, readme, "5.35.0")
	require.Contains(t, readme, "Apache-2.0")
}

// Every embedded file is served, with an ETag a browser can revalidate
// with; paths outside the assets are not.
func TestEveryFileServedAndRevalidated(t *testing.T) {
	srv := newServer(t)
	files := site.Files()
	require.Greater(t, len(files), 8)
	for _, path := range files {
		res, _ := get(t, srv, path)
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		etag := res.Header.Get("ETag")
		require.NotEmpty(t, etag, path)
		require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), path)
		again, _ := get(t, srv, path, "If-None-Match", etag)
		require.Equal(t, http.StatusNotModified, again.StatusCode, path)
	}
	for _, path := range []string{"/assets/", "/assets/nope.js", "/assets/index.html", "/assets/../site.go", "/index.html"} {
		res, _ := get(t, srv, path)
		require.Equal(t, http.StatusNotFound, res.StatusCode, path)
	}
}

// The page inserts data from the API as text only: the script never uses
// the HTML-parsing sinks.
func TestPageScriptUsesNoHTMLSinks(t *testing.T) {
	srv := newServer(t)
	_, js := get(t, srv, "/assets/app.js")
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		require.False(t, strings.Contains(js, sink), "app.js uses %s", sink)
	}
	require.Contains(t, js, "sessionStorage")
	require.False(t, strings.Contains(js, "localStorage"), "the key is kept for the session only")
}

// A client that takes gzip gets the large files compressed, the same bytes
// once decompressed, with the right type and its own ETag.
func TestAssetsGzipped(t *testing.T) {
	srv := newServer(t)
	for _, path := range []string{"/assets/swagger-ui/swagger-ui-bundle.js", "/assets/app.js", "/docs"} {
		plain, body := get(t, srv, path, "Accept-Encoding", "identity")
		require.Empty(t, plain.Header.Get("Content-Encoding"), path)
		zipped, raw := get(t, srv, path, "Accept-Encoding", "gzip, deflate")
		require.Equal(t, "gzip", zipped.Header.Get("Content-Encoding"), path)
		require.Equal(t, plain.Header.Get("Content-Type"), zipped.Header.Get("Content-Type"), path)
		require.NotEqual(t, plain.Header.Get("ETag"), zipped.Header.Get("ETag"), path)
		require.Less(t, len(raw), len(body), path)
		zr, err := gzip.NewReader(bytes.NewReader([]byte(raw)))
		require.NoError(t, err)
		unzipped, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, body, string(unzipped), path)
		require.Contains(t, zipped.Header.Get("Vary"), "Accept-Encoding")
	}
	res, _ := get(t, srv, "/assets/app.js", "Accept-Encoding", "gzip;q=0")
	require.Empty(t, res.Header.Get("Content-Encoding"))
}
