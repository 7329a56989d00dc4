package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestJurisdictionIdentity(t *testing.T) {
	sj := "ca|santa clara|san jose|sanjoseca.gov"
	cases := []struct {
		name string
		j    *Jurisdiction
		want string
	}{
		{"plain", &Jurisdiction{City: "San Jose", County: "Santa Clara", State: "CA", OfficialDomains: []string{"sanjoseca.gov"}}, sj},
		{"spelled out, kind words, case, spaces, www",
			&Jurisdiction{City: " City of  SAN JOSE ", County: "Santa Clara County", State: "California",
				OfficialDomains: []string{"https://www.SanJoseCA.gov/planning", "sjpermits.org"}}, sj},
		{"county of", &Jurisdiction{City: "San Jose", County: "County of Santa Clara", State: "State of California",
			OfficialDomains: []string{"sanjoseca.gov"}}, sj},
		{"no domain", &Jurisdiction{City: "San Jose", County: "Santa Clara", State: "CA"}, "ca|santa clara|san jose|"},
		{"bad domains dropped", &Jurisdiction{City: "San Jose", State: "ca", OfficialDomains: []string{"localhost", "10.0.0.1"}}, "ca||san jose|"},
		{"periods", &Jurisdiction{City: "St. Louis", State: "Missouri"}, "mo||st louis|"},
		{"city and county", &Jurisdiction{City: "City and County of San Francisco", State: "CA"}, "ca||san francisco|"},
		{"unincorporated", &Jurisdiction{County: "Marin County", State: "CA", OfficialDomains: []string{"marincounty.gov"}}, "ca|marin||marincounty.gov"},
		{"DC", &Jurisdiction{City: "Washington", State: "District of Columbia"}, "dc||washington|"},
		{"foreign state kept as named", &Jurisdiction{City: "Toronto", State: "Ontario"}, "ontario||toronto|"},
		{"separator cannot forge fields", &Jurisdiction{City: "a|b", State: "CA"}, "ca||a b|"},
		{"no state", &Jurisdiction{City: "San Jose", County: "Santa Clara"}, ""},
		{"state only", &Jurisdiction{State: "CA", OfficialDomains: []string{"ca.gov"}}, ""},
		{"nil", nil, ""},
	}
	for _, c := range cases {
		if got := c.j.Identity(); got != c.want {
			t.Errorf("%s: Identity() = %q, want %q", c.name, got, c.want)
		}
	}
	other := &Jurisdiction{City: "Santa Clara", County: "Santa Clara", State: "CA", OfficialDomains: []string{"santaclaraca.gov"}}
	if other.Identity() == cases[0].j.Identity() {
		t.Fatal("two cities of one county share an identity")
	}
}

func TestJurisdictionWideSections(t *testing.T) {
	var wide []string
	for _, s := range Catalogue() {
		if s.JurisdictionWide {
			wide = append(wide, s.Key)
		}
	}
	want := "adopted_codes fire_life_safety accessibility energy_code permitting_process"
	if got := strings.Join(wide, " "); got != want {
		t.Fatalf("jurisdiction-wide sections = %q, want %q", got, want)
	}
}

// reusable is a section that CheckReuse accepts for want.
func reusable(at time.Time) SectionResult {
	return SectionResult{Key: "energy_code", Title: "Energy code", Ordinal: 11, Status: SectionCompleted,
		Summary: "Title 24 Part 6 (2025) applies.", Outcome: OutcomeFound, Confidence: ConfidenceHigh,
		Findings: []Finding{{Label: "Energy code", Value: "2025 Title 24 Part 6", SourceIDs: []int{1}, Supported: true}},
		Sources:  []Source{{ID: 1, URL: "https://www.energy.ca.gov/t24", Official: true}},
		Grounded: true, Provider: "perplexity", Model: "perplexity/sonar", Attempts: 1, LatencyMS: 900,
		Usage: Usage{InputTokens: 100, OutputTokens: 50}, StartedAt: &at, FinishedAt: &at}
}

func TestCheckReuse(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := now.Add(-24 * time.Hour)
	want := ReuseWant{Key: "energy_code", Provider: "perplexity", Model: "perplexity/sonar", NotBefore: now.Add(-30 * 24 * time.Hour)}
	if err := CheckReuse(reusable(at), want); err != nil {
		t.Fatalf("CheckReuse of a good section: %v", err)
	}
	old := at.Add(-40 * 24 * time.Hour)
	refused := map[string]func(*SectionResult, *ReuseWant){
		"parcel section": func(s *SectionResult, w *ReuseWant) { s.Key, w.Key = "zoning_use", "zoning_use" },
		"other key":      func(s *SectionResult, w *ReuseWant) { s.Key = "accessibility" },
		"failed":         func(s *SectionResult, w *ReuseWant) { s.Status, s.Error = SectionFailed, "HTTP 500" },
		"running":        func(s *SectionResult, w *ReuseWant) { s.Status = SectionRunning },
		"other provider": func(s *SectionResult, w *ReuseWant) { w.Provider = "openai" },
		"other model":    func(s *SectionResult, w *ReuseWant) { w.Model = "sonar-pro" },
		"too old":        func(s *SectionResult, w *ReuseWant) { s.FinishedAt = &old },
		"never finished": func(s *SectionResult, w *ReuseWant) { s.FinishedAt = nil },
		"not grounded":   func(s *SectionResult, w *ReuseWant) { s.Grounded = false },
		"no sources":     func(s *SectionResult, w *ReuseWant) { s.Sources = nil },
		"unsupported":    func(s *SectionResult, w *ReuseWant) { s.Findings[0].Supported = false },
		"contradicted":   func(s *SectionResult, w *ReuseWant) { s.Findings[0].Verdict = VerdictContradicted },
		"verified too long ago": func(s *SectionResult, w *ReuseWant) {
			s.FinishedAt, s.VerifiedAt = &old, &old
		},
		"nothing found":    func(s *SectionResult, w *ReuseWant) { s.Outcome = OutcomeNotFound },
		"no outcome":       func(s *SectionResult, w *ReuseWant) { s.Outcome = "" },
		"untraceable copy": func(s *SectionResult, w *ReuseWant) { s.ReusedFrom = "job-0" },
		"copy of old research": func(s *SectionResult, w *ReuseWant) {
			s.ReusedFrom, s.LastVerified = "job-0", &old // recently copied, researched long ago
		},
		"simulated summary into real research": func(s *SectionResult, w *ReuseWant) {
			s.Summary = "[SIMULATED] Energy code."
		},
		"simulated into real research": func(s *SectionResult, w *ReuseWant) {
			s.Provider, s.Model, w.Provider = "fake", SimulatedModel, "fake"
			w.Model = "other"
		},
	}
	for name, change := range refused {
		s, w := reusable(at), want
		s.Findings = append([]Finding(nil), s.Findings...)
		change(&s, &w)
		if err := CheckReuse(s, w); !errors.Is(err, ErrNotReusable) {
			t.Errorf("%s: CheckReuse = %v, want ErrNotReusable", name, err)
		}
	}

	verified := reusable(old)
	verified.VerifiedAt = &at // researched long ago, verified recently
	verified.Findings = []Finding{{Label: "Energy code", Value: "2025 Title 24 Part 6", SourceIDs: []int{1}, Supported: true,
		Verdict: VerdictVerified}}
	if err := CheckReuse(verified, want); err != nil {
		t.Errorf("recently verified research: %v", err)
	}
	if got := Reused(verified, "job-v", now).LastVerified; !got.Equal(at) {
		t.Errorf("last_verified of a verified section = %v, want when it was verified, %v", got, at)
	}

	unconfirmed := verified
	unconfirmed.Findings = []Finding{{Label: "Energy code", Value: "2025 Title 24 Part 6", SourceIDs: []int{1}, Supported: true,
		Verdict: VerdictUnverifiable}}
	if err := CheckReuse(unconfirmed, want); !errors.Is(err, ErrNotReusable) {
		t.Errorf("old research a verification confirmed nothing of is as old as it was: CheckReuse = %v", err)
	}

	copied := reusable(at)
	copied.ReusedFrom, copied.LastVerified = "job-0", &at
	if err := CheckReuse(copied, want); err != nil {
		t.Errorf("a traceable copy of recent research: %v", err)
	}

	// Simulated sections (ungrounded, nothing found) go into simulated
	// jobs only.
	sim := SectionResult{Key: "energy_code", Status: SectionCompleted, Summary: "[SIMULATED] Energy code.",
		Outcome: OutcomeNotFound, Provider: "fake", Model: SimulatedModel, FinishedAt: &at}
	simWant := ReuseWant{Key: "energy_code", Provider: "fake", Model: SimulatedModel, NotBefore: want.NotBefore}
	if err := CheckReuse(sim, simWant); err != nil {
		t.Errorf("simulated into simulated: %v", err)
	}
	if err := CheckReuse(sim, want); !errors.Is(err, ErrNotReusable) {
		t.Errorf("simulated into perplexity: %v, want ErrNotReusable", err)
	}
}

func TestReused(t *testing.T) {
	researched := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	now := researched.Add(48 * time.Hour)
	cost := 0.02
	src := reusable(researched)
	src.Usage.CostUSD = &cost
	got := Reused(src, "job-a", now)
	if got.ReusedFrom != "job-a" || got.LastVerified == nil || !got.LastVerified.Equal(researched) {
		t.Fatalf("reused_from %q, last_verified %v; want job-a, %v", got.ReusedFrom, got.LastVerified, researched)
	}
	if got.Usage != (Usage{}) || got.Attempts != 0 || got.LatencyMS != 0 {
		t.Fatalf("a reused section costs nothing: usage %+v, attempts %d, latency %d", got.Usage, got.Attempts, got.LatencyMS)
	}
	if !got.StartedAt.Equal(now) || !got.FinishedAt.Equal(now) || got.Status != SectionCompleted {
		t.Fatalf("reused section: status %s, started %v, finished %v", got.Status, got.StartedAt, got.FinishedAt)
	}
	if got.Summary != src.Summary || len(got.Findings) != 1 || len(got.Sources) != 1 {
		t.Fatal("the research itself is kept")
	}
	// Reused again, it still names the job that did the research and when.
	again := Reused(got, "job-b", now.Add(time.Hour))
	if again.ReusedFrom != "job-a" || !again.LastVerified.Equal(researched) {
		t.Fatalf("reused twice: reused_from %q, last_verified %v; want job-a, %v", again.ReusedFrom, again.LastVerified, researched)
	}
}

func TestReportShowsReuse(t *testing.T) {
	researched := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	s := Reused(reusable(researched), "0195f0a0-aaaa", researched.Add(time.Hour))
	job := Job{ID: "j", Address: "2 Main St, San Jose, CA", Sections: []string{"energy_code"}, Status: JobCompleted}
	var b strings.Builder
	if err := NewReport(job, []SectionResult{s}).WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if want := "_Reused from job 0195f0a0-aaaa, last verified 2026-11-20T09:00:00Z._"; !strings.Contains(b.String(), want) {
		t.Fatalf("report lacks %q:\n%s", want, b.String())
	}
	b.Reset()
	if err := NewReport(job, []SectionResult{reusable(researched)}).WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Reused from") {
		t.Fatal("a section researched for the job says it was reused")
	}
}
