package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	httpapi "github.com/codecheck/codecheck/adapters/http"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

// fullProblem is a problem document with codecheck's members.
type fullProblem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

func (r response) fullProblem(t *testing.T, status int) fullProblem {
	t.Helper()
	r.problem(t, status)
	var p fullProblem
	r.json(t, &p)
	require.Equal(t, "urn:codecheck:problem:"+p.Code, p.Type, "type and code name the same kind")
	require.NotEmpty(t, p.Title)
	require.Equal(t, r.Header.Get("X-Request-Id"), p.RequestID, "the problem carries the request id of the header")
	require.NotEmpty(t, p.RequestID)
	for _, s := range []string{"conflict", "not found", "invalid input", "lease lost", "unauthenticated", "forbidden"} {
		require.False(t, strings.HasSuffix(p.Detail, ": "+s), "detail %q ends in the sentinel", p.Detail)
		require.NotContains(t, p.Detail, ": "+s+":", "detail %q", p.Detail)
	}
	return p
}

// Every kind of error has its own stable type and code, whoever writes it:
// the domain table, Huma's validation, the router.
func TestProblemTypes(t *testing.T) {
	e := newEnv(t)
	done := e.submit(map[string]any{"address": address, "sections": []string{"jurisdiction"}})
	l := e.claim(done.ID)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.finish(l, domain.JobCompleted, "")
	e.submit(map[string]any{"address": address}, "Idempotency-Key: k")

	cases := []struct {
		name   string
		res    response
		status int
		code   string
	}{
		{"unknown job", e.do(http.MethodGet, "/jobs/0192f0c1-0000-7000-8000-00000000dead", nil), 404, "not-found"},
		{"unknown route", e.do(http.MethodGet, "/nope", nil), 404, "not-found"},
		{"wrong method", e.do(http.MethodDelete, "/jobs", nil), 405, "method-not-allowed"},
		{"malformed JSON", e.do(http.MethodPost, "/jobs", `{"address":`), 400, "bad-request"},
		{"schema validation", e.do(http.MethodPost, "/jobs", map[string]any{"address": "abc"}), 422, "validation-failed"},
		{"domain validation", e.do(http.MethodPost, "/jobs", map[string]any{"address": "1 Main St\u202e, Springfield"}), 422, "validation-failed"},
		{"idempotency mismatch", e.do(http.MethodPost, "/jobs", map[string]any{"address": address + " "}, "Idempotency-Key: k"), 422, "idempotency-mismatch"},
		{"cancel a completed job", e.do(http.MethodPost, "/jobs/"+done.ID+"/cancel", nil), 409, "conflict"},
		{"retry a completed job", e.do(http.MethodPost, "/jobs/"+done.ID+"/retry", nil), 409, "conflict"},
		{"body too large", e.do(http.MethodPost, "/jobs", `{"address": "`+strings.Repeat("a", 70<<10)+`"}`), 413, "body-too-large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.res.fullProblem(t, c.status)
			require.Equal(t, c.code, p.Code)
		})
	}
	// Titles are per kind, not per occurrence.
	a, b := cases[7].res.fullProblem(t, 409), cases[8].res.fullProblem(t, 409)
	require.Equal(t, a.Title, b.Title)
	require.NotEqual(t, a.Detail, b.Detail)
	require.Equal(t, "job "+done.ID+" is completed; only failed or canceled jobs can be retried", b.Detail)
}

// The domain's rule against invisible characters reaches the client naming
// the field and the rule.
func TestAddressFormatCharactersRefused(t *testing.T) {
	e := newEnv(t)
	for _, r := range []string{"\u202e", "\u2028", "\u2029", "\u200b"} {
		p := e.do(http.MethodPost, "/jobs", map[string]any{"address": "1 Main St" + r + ", Springfield, IL"}).
			fullProblem(t, http.StatusUnprocessableEntity)
		require.Len(t, p.Errors, 1)
		require.Equal(t, "body.address", p.Errors[0].Location)
		require.Contains(t, p.Errors[0].Message, "Cf, Zl, Zp")
		require.True(t, strings.HasPrefix(p.Detail, "address: "), p.Detail)
	}
	require.Empty(t, e.listJobs("").Jobs)
}

func TestRequestID(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, func(c *httpapi.Config, _ *app.ServiceConfig) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})

	ok := e.do(http.MethodGet, "/jobs", nil)
	require.Equal(t, http.StatusOK, ok.StatusCode)
	generated := ok.Header.Get("X-Request-Id")
	require.Len(t, generated, 32, "a fresh id on every response")
	require.NotEqual(t, generated, e.do(http.MethodGet, "/jobs", nil).Header.Get("X-Request-Id"))
	require.Contains(t, logs.String(), "request_id="+generated, "the request's log line names it")

	kept := e.do(http.MethodGet, "/jobs/0192f0c1-0000-7000-8000-00000000dead", nil, "X-Request-Id: trace-01J9Z:abc/def+=")
	require.Equal(t, "trace-01J9Z:abc/def+=", kept.Header.Get("X-Request-Id"), "a sane incoming id is kept")
	require.Equal(t, "trace-01J9Z:abc/def+=", kept.fullProblem(t, http.StatusNotFound).RequestID)

	for _, insane := range []string{"has space", "<script>", strings.Repeat("a", 129), "quote\"d"} {
		res := e.do(http.MethodGet, "/jobs", nil, "X-Request-Id: "+insane)
		require.Len(t, res.Header.Get("X-Request-Id"), 32, "%q is replaced", insane)
	}
	route := e.do(http.MethodGet, "/nope", nil, "X-Request-Id: r-404")
	require.Equal(t, "r-404", route.fullProblem(t, http.StatusNotFound).RequestID, "the router's own 404 too")
}

func TestIdempotentReplayedHeader(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"address": address}
	first := e.do(http.MethodPost, "/jobs", body, "Idempotency-Key: replay-1")
	require.Equal(t, http.StatusAccepted, first.StatusCode)
	require.Empty(t, first.Header.Values("Idempotent-Replayed"), "a new job is no replay")
	again := e.do(http.MethodPost, "/jobs", body, "Idempotency-Key: replay-1")
	require.Equal(t, http.StatusAccepted, again.StatusCode)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	other := e.do(http.MethodPost, "/jobs", body)
	require.Empty(t, other.Header.Values("Idempotent-Replayed"), "no key, no replay")
}

// The spec declares X-Request-Id on every response.
func TestSpecDeclaresRequestIDEverywhere(t *testing.T) {
	raw, err := httpapi.Spec(false)
	require.NoError(t, err)
	var spec struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Headers map[string]any `json:"headers"`
			} `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &spec))
	var n int
	for path, ops := range spec.Paths {
		for method, op := range ops {
			for status, r := range op.Responses {
				require.Contains(t, r.Headers, "X-Request-Id", "%s %s %s", method, path, status)
				n++
			}
		}
	}
	require.Greater(t, n, 20)
}
