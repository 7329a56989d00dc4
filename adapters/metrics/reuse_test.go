package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/metrics"
	"github.com/codecheck/codecheck/domain"
)

func TestReusedSectionsAreCounted(t *testing.T) {
	m := metrics.New(prometheus.NewRegistry())
	m.SectionDone(domain.Job{}, domain.SectionResult{Key: "energy_code", Status: domain.SectionCompleted, ReusedFrom: "job-a"})
	m.SectionDone(domain.Job{}, domain.SectionResult{Key: "energy_code", Status: domain.SectionCompleted, ReusedFrom: "job-a"})
	m.SectionDone(domain.Job{}, domain.SectionResult{Key: "adopted_codes", Status: domain.SectionCompleted})
	text := scrape(t, m)
	require.Contains(t, text, `codecheck_sections_reused_total{section="energy_code"} 2`)
	require.NotContains(t, text, `codecheck_sections_reused_total{section="adopted_codes"}`, "researched, not reused")
}
