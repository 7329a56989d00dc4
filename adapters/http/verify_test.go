package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

func TestVerifyShowsInTheJobAndItsEvents(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}, "verify": true})
	var job map[string]any
	e.do(http.MethodGet, "/jobs/"+v.ID, nil).json(t, &job)
	require.Equal(t, true, job["verify"])
	require.Equal(t, "0/2", job["researched"])
	require.Equal(t, "0/2", job["verified"])

	l := e.claim(v.ID)
	e.saveSection(l, domain.JurisdictionKey, domain.SectionCompleted)
	sections, err := e.store.Sections(t.Context(), v.ID)
	require.NoError(t, err)
	verified := sections[0]
	domain.ApplyVerdicts(&verified, []domain.FindingVerdict{{Verdict: domain.VerdictContradicted,
		Quote: "The Building Division moved to Public Works.", SourceID: 1}}, time.Now())
	require.NoError(t, e.store.SaveSection(t.Context(), l, verified))

	e.do(http.MethodGet, "/jobs/"+v.ID, nil).json(t, &job)
	require.Equal(t, "1/2", job["researched"])
	require.Equal(t, "1/2", job["verified"])

	res := e.do(http.MethodGet, "/jobs/"+v.ID+"/report", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	var report struct {
		Sections []domain.SectionResult `json:"sections"`
		Summary  domain.Summary         `json:"summary"`
	}
	res.json(t, &report)
	require.NotNil(t, report.Sections[0].VerifiedAt)
	require.Equal(t, domain.VerdictContradicted, report.Sections[0].Findings[0].Verdict)
	require.Equal(t, "The Building Division moved to Public Works.", report.Sections[0].Findings[0].VerdictQuote)
	require.True(t, strings.Contains(mustJSON(t, report.Summary.RedFlags), `"kind":"contradicted"`), "%+v", report.Summary.RedFlags)

	e.finish(l, domain.JobFailed, "stopped")
	raw := e.do(http.MethodGet, "/jobs/"+v.ID+"/events", nil)
	require.Equal(t, http.StatusOK, raw.StatusCode)
	var sawVerified bool
	for _, line := range strings.Split(string(raw.body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(data), &ev))
		require.NotEmpty(t, ev["verified_progress"], "every event of a verify job carries its verified progress: %s", data)
		if ev["verified"] == true {
			sawVerified = true
			require.Equal(t, "jurisdiction", ev["key"])
			require.Equal(t, "1/2", ev["verified_progress"])
		}
	}
	require.True(t, sawVerified, "a section event says the verification was saved:\n%s", raw.body)
}

func TestWithoutVerifyNoVerificationFields(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	var job map[string]any
	e.do(http.MethodGet, "/jobs/"+v.ID, nil).json(t, &job)
	require.Equal(t, false, job["verify"])
	require.NotContains(t, job, "researched")
	require.NotContains(t, job, "verified")
}

func TestVerifyIsCoveredByTheIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	e.submit(map[string]any{"address": address}, "Idempotency-Key: verify-key")
	res := e.do(http.MethodPost, "/jobs", map[string]any{"address": address, "verify": true}, "Idempotency-Key: verify-key")
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode, "%s", res.body)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
