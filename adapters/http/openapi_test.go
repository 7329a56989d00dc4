package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/stretchr/testify/require"

	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/domain"
)

var specFile = filepath.Join("..", "..", "api", "openapi.yaml")

// TestOpenAPIUpToDate fails when api/openapi.yaml differs from the spec the
// code generates. Regenerate with
//
//	go run ./cmd/codecheck openapi --yaml > api/openapi.yaml
//
// or UPDATE_OPENAPI=1 go test ./adapters/http -run TestOpenAPIUpToDate
func TestOpenAPIUpToDate(t *testing.T) {
	spec, err := httpapi.Spec(true)
	require.NoError(t, err)
	if os.Getenv("UPDATE_OPENAPI") == "1" {
		require.NoError(t, os.MkdirAll(filepath.Dir(specFile), 0o755))
		require.NoError(t, os.WriteFile(specFile, spec, 0o644))
	}
	committed, err := os.ReadFile(specFile)
	require.NoError(t, err, "api/openapi.yaml is missing; run UPDATE_OPENAPI=1 go test ./adapters/http -run TestOpenAPIUpToDate")
	require.Equal(t, string(spec), string(committed),
		"api/openapi.yaml is stale: run `go run ./cmd/codecheck openapi --yaml > api/openapi.yaml` "+
			"(or UPDATE_OPENAPI=1 go test ./adapters/http -run TestOpenAPIUpToDate)")

	again, err := httpapi.Spec(true)
	require.NoError(t, err)
	require.Equal(t, string(spec), string(again), "the spec is deterministic")
}

func TestSpecIsValidOpenAPI31(t *testing.T) {
	for _, yaml := range []bool{false, true} {
		spec, err := httpapi.Spec(yaml)
		require.NoError(t, err)
		doc, err := libopenapi.NewDocument(spec)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(doc.GetVersion(), "3.1."), doc.GetVersion())
		model, err := doc.BuildV3Model()
		require.NoError(t, err)
		require.NotNil(t, model)

		v, errs := validator.NewValidator(doc)
		require.Empty(t, errs)
		ok, verrs := v.ValidateDocument()
		for _, e := range verrs {
			t.Errorf("spec: %s: %s", e.Message, e.Reason)
		}
		require.True(t, ok)

		paths := model.Model.Paths.PathItems
		for _, p := range []string{"/jobs", "/jobs/{id}", "/jobs/{id}/report", "/jobs/{id}/events",
			"/jobs/{id}/cancel", "/jobs/{id}/retry", "/healthz", "/readyz"} {
			_, found := paths.Get(p)
			require.True(t, found, p)
		}
		scheme, found := model.Model.Components.SecuritySchemes.Get("bearer")
		require.True(t, found)
		require.Equal(t, "bearer", scheme.Scheme)
	}
}

func TestSpecDocumentsEnums(t *testing.T) {
	spec, err := httpapi.Spec(false)
	require.NoError(t, err)
	s := string(spec)
	for _, key := range domain.SectionKeys() {
		require.Contains(t, s, `"`+key+`"`)
	}
	for _, want := range []string{`"perplexity"`, `"canceled"`, `"not_applicable"`, `"text/event-stream"`, `"text/markdown"`,
		`"Idempotency-Key"`, `"Last-Event-ID"`} {
		require.Contains(t, s, want)
	}
}

// TestResponsesMatchSpec sends real requests for every operation and checks
// each request and response against the generated spec with an independent
// validator.
func TestResponsesMatchSpec(t *testing.T) {
	spec, err := httpapi.Spec(false)
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(spec)
	require.NoError(t, err)
	v, errs := validator.NewValidator(doc)
	require.Empty(t, errs)

	e := newEnv(t, withKeys("k"))
	e.key = "k"
	check := func(req *http.Request, body []byte, wantStatus int) response {
		t.Helper()
		res := e.send(req)
		require.Equal(t, wantStatus, res.StatusCode, "%s %s: %s", req.Method, req.URL, res.body)
		// Rebuild both sides: the validator reads the bodies again.
		check, err := http.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
		require.NoError(t, err)
		check.Header = req.Header.Clone()
		res.Response.Body = io.NopCloser(bytes.NewReader(res.body))
		res.Response.Request = check
		validate := v.ValidateHttpRequestResponse
		if invalidRequest[wantStatus] {
			validate = v.ValidateHttpResponse // the request is meant to break the spec
		}
		ok, verrs := validate(check, res.Response)
		for _, ve := range verrs {
			t.Errorf("%s %s -> %d: %s: %s (%s)", req.Method, req.URL.Path, res.StatusCode, ve.Message, ve.Reason, ve.SpecPath)
		}
		require.True(t, ok)
		return res
	}
	post := func(path, body string, status int, headers ...string) response {
		t.Helper()
		var b any
		if body != "" {
			b = body
		}
		return check(e.request(http.MethodPost, path, b, headers...), []byte(body), status)
	}
	get := func(path string, status int, headers ...string) response {
		t.Helper()
		return check(e.request(http.MethodGet, path, nil, headers...), nil, status)
	}

	res := post("/jobs", `{"address":"`+address+`","llm_provider":"fake","sections":["zoning_use"],"webhook_url":"https://hooks.example.com/x"}`,
		http.StatusAccepted, "Idempotency-Key: spec-1")
	id := strings.TrimPrefix(res.Header.Get("Location"), "/jobs/")
	post("/jobs", `{"address":"abc"}`, http.StatusUnprocessableEntity)
	post("/jobs", `{"address":`, http.StatusBadRequest)
	post("/jobs", `{"address":"`+strings.Repeat("a", 70<<10)+`"}`, http.StatusRequestEntityTooLarge)
	post("/jobs", `{"address":"`+address+`","llm_provider":"openai"}`, http.StatusUnprocessableEntity)

	l := e.claim(id)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.saveSection(l, "zoning_use", domain.SectionFailed)
	e.finish(l, domain.JobFailed, "sections failed: zoning_use")

	get("/jobs/"+id, http.StatusOK)
	get("/jobs?limit=1", http.StatusOK)
	get("/jobs?status=failed&limit=5", http.StatusOK)
	get("/jobs?limit=500", http.StatusUnprocessableEntity)
	get("/jobs/"+id+"/report", http.StatusOK)
	get("/jobs/"+id+"/report", http.StatusOK, "Accept: text/markdown")
	get("/jobs/"+id+"/events", http.StatusOK)
	get("/jobs/0192f0c1-0000-7000-8000-00000000dead", http.StatusNotFound)
	post("/jobs/"+id+"/retry", "", http.StatusAccepted)
	post("/jobs/"+id+"/cancel", "", http.StatusOK)
	post("/jobs/"+id+"/cancel", "", http.StatusConflict)
	get("/healthz", http.StatusOK)
	get("/readyz", http.StatusOK)

	e.key = ""
	get("/jobs", http.StatusUnauthorized)
}

// invalidRequest lists the statuses of requests that break the spec on
// purpose: only their responses are validated.
var invalidRequest = map[int]bool{http.StatusBadRequest: true, http.StatusUnauthorized: true,
	http.StatusRequestEntityTooLarge: true, http.StatusUnprocessableEntity: true}
