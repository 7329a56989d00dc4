package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

func TestReportJSON(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"zoning_use"}})
	l := e.claim(v.ID)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)

	res := e.do(http.MethodGet, "/jobs/"+v.ID+"/report", nil)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	var r struct {
		Job      jobView `json:"job"`
		Sections []struct {
			Key      string `json:"key"`
			Status   string `json:"status"`
			Summary  string `json:"summary"`
			Findings []struct {
				Label     string `json:"label"`
				SourceIDs []int  `json:"source_ids"`
			} `json:"findings"`
			Sources []struct {
				ID       int    `json:"id"`
				URL      string `json:"url"`
				Official bool   `json:"official"`
			} `json:"sources"`
		} `json:"sections"`
		Usage struct {
			InputTokens  int64    `json:"input_tokens"`
			OutputTokens int64    `json:"output_tokens"`
			CostUSD      *float64 `json:"cost_usd"`
		} `json:"usage"`
	}
	res.json(t, &r)
	require.Equal(t, v.ID, r.Job.ID)
	require.Equal(t, "1/2", r.Job.Progress)
	require.Len(t, r.Sections, 2)
	require.Equal(t, "jurisdiction", r.Sections[0].Key)
	require.Equal(t, "completed", r.Sections[0].Status)
	require.NotEmpty(t, r.Sections[0].Summary)
	require.Equal(t, []int{1}, r.Sections[0].Findings[0].SourceIDs)
	require.Equal(t, "https://www.springfield.il.us/building", r.Sections[0].Sources[0].URL)
	require.True(t, r.Sections[0].Sources[0].Official)
	require.Equal(t, "pending", r.Sections[1].Status)
	require.Equal(t, int64(1200), r.Usage.InputTokens)
	require.NotNil(t, r.Usage.CostUSD)
}

func TestReportMarkdown(t *testing.T) {
	e := newEnv(t)
	v := e.submit(map[string]any{"address": address, "sections": []string{"jurisdiction"}})
	l := e.claim(v.ID)
	e.saveSection(l, "jurisdiction", domain.SectionCompleted)
	e.finish(l, domain.JobCompleted, "")

	for _, accept := range []string{"text/markdown", "text/markdown, application/json;q=0.5"} {
		res := e.do(http.MethodGet, "/jobs/"+v.ID+"/report", nil, "Accept: "+accept)
		require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", res.body)
		require.Equal(t, "text/markdown; charset=utf-8", res.Header.Get("Content-Type"))
		md := string(res.body)
		require.True(t, strings.HasPrefix(md, "# Building code report: "+address), md)
		require.Contains(t, md, "## 1. Jurisdiction and authorities having jurisdiction")
		require.Contains(t, md, "(https://www.springfield.il.us/building) (official)")
	}
	res := e.do(http.MethodGet, "/jobs/"+v.ID+"/report", nil, "Accept: application/json, text/markdown;q=0.1")
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
}
