// Package site serves codecheck's web page at "/" and the API docs at
// "/docs" from files embedded in the binary: no build step, no CDN, nothing
// fetched from another host. The page is plain HTML, CSS and JavaScript that
// talks to the public API only (the same routes a curl user has); the docs
// page renders /openapi.json with a vendored copy of Swagger UI
// (assets/swagger-ui/README.md names its version and licence).
//
// It must not reach into the API's internals: everything the page shows
// comes from HTTP responses, and data from the API (addresses, model
// output) is only ever inserted as text.
package site

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var embedded embed.FS

// AssetsPrefix is the URL path under which the page's and the docs' files
// are served.
const AssetsPrefix = "/assets/"

// Routes of the pages.
const (
	PagePath = "/"
	DocsPath = "/docs"
)

// pageCSP allows nothing but this origin: no inline script, no other host.
// Even a bug that put model output into markup could not run it.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// docsCSP is pageCSP with inline styles, which Swagger UI sets on elements.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Mount registers the page, the docs and their assets on mux: GET / (only
// the root; other paths stay the mux's 404), GET /docs and GET /assets/....
func Mount(mux *http.ServeMux) {
	files := newFileServer()
	mux.Handle("GET /{$}", files.page("index.html", pageCSP))
	mux.Handle("GET "+DocsPath, files.page("docs.html", docsCSP))
	mux.Handle("GET "+AssetsPrefix, http.StripPrefix(strings.TrimSuffix(AssetsPrefix, "/"), files))
}

// Files lists every embedded file by its URL path (the pages at their
// routes, the rest under AssetsPrefix), for tests.
func Files() []string {
	out := []string{PagePath, DocsPath}
	_ = fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && p != "assets/index.html" && p != "assets/docs.html" {
			out = append(out, AssetsPrefix+strings.TrimPrefix(p, "assets/"))
		}
		return err
	})
	return out
}

// fileServer serves embedded files with a content hash as ETag, so that a
// browser revalidates cheaply and never runs a stale copy after an upgrade,
// gzipped for clients that take it (Swagger UI's bundle shrinks from 1.7 MB
// to about a third).
type fileServer struct {
	mu    sync.Mutex
	etags map[string]string
	gz    map[string][]byte
}

func newFileServer() *fileServer {
	return &fileServer{etags: map[string]string{}, gz: map[string][]byte{}}
}

func (f *fileServer) page(name, csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		f.serve(w, r, name)
	})
}

// ServeHTTP serves the asset at r.URL.Path (the prefix already stripped).
func (f *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" || name == "index.html" || name == "docs.html" {
		http.NotFound(w, r)
		return
	}
	f.serve(w, r, name)
}

func (f *fileServer) serve(w http.ResponseWriter, r *http.Request, name string) {
	b, err := embedded.ReadFile("assets/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	if strings.HasSuffix(name, ".md") || strings.HasSuffix(name, ".txt") || path.Base(name) == "LICENSE" || path.Base(name) == "NOTICE" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	etag := f.etag(name, b)
	h.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r) && compressible(name) {
		if z := f.gzipped(name, b); z != nil {
			h.Set("Content-Encoding", "gzip")
			if h.Get("Content-Type") == "" {
				h.Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
			}
			b, etag = z, strings.TrimSuffix(etag, `"`)+`-gz"`
		}
	}
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// gzipped returns the gzip encoding of the file, made once; nil when it
// would not be smaller.
func (f *fileServer) gzipped(name string, b []byte) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if z, ok := f.gz[name]; ok {
		return z
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	var z []byte
	if buf.Len() < len(b) {
		z = buf.Bytes()
	}
	f.gz[name] = z
	return z
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func compressible(name string) bool {
	switch path.Ext(name) {
	case ".html", ".js", ".css", ".md", ".txt", ".json", ".svg":
		return true
	}
	return false
}

func (f *fileServer) etag(name string, b []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.etags[name]; ok {
		return e
	}
	sum := sha256.Sum256(b)
	e := `"` + hex.EncodeToString(sum[:12]) + `"`
	f.etags[name] = e
	return e
}
