package domain

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Scope is the kind of work a project does to the property.
type Scope string

const (
	ScopeNew               Scope = "new"
	ScopeAddition          Scope = "addition"
	ScopeAlteration        Scope = "alteration"
	ScopeADU               Scope = "adu"
	ScopeTenantImprovement Scope = "tenant_improvement"
	ScopeChangeOfUse       Scope = "change_of_use"
)

// Scopes lists every scope.
var Scopes = []Scope{ScopeNew, ScopeAddition, ScopeAlteration, ScopeADU, ScopeTenantImprovement, ScopeChangeOfUse}

// Project limits.
const (
	ProjectUseMaxLen         = 200
	ProjectDescriptionMaxLen = 2000
	ProjectMaxStories        = 200
	ProjectMaxFloorAreaSqFt  = 10_000_000
)

// Project is what will be built at the address. Whether a use is permitted,
// or whether the IRC or the IBC applies, depends on it. Every field is
// optional; nil numbers were not given.
type Project struct {
	// Use is the intended use or occupancy, e.g. "single-family dwelling".
	Use           string `json:"use,omitempty"`
	Scope         Scope  `json:"scope,omitempty"`
	Stories       *int   `json:"stories,omitempty"`
	FloorAreaSqFt *int   `json:"floor_area_sqft,omitempty"`
	Description   string `json:"description,omitempty"`
}

// NormalizeProject trims p's text and checks every field, returning a
// *ValidationError naming the field ("project.scope") and the rule. A nil
// project, or one with nothing in it, is nil.
func NormalizeProject(p *Project) (*Project, error) {
	if p == nil {
		return nil, nil
	}
	n := Project{Use: strings.TrimSpace(p.Use), Scope: p.Scope, Stories: p.Stories,
		FloorAreaSqFt: p.FloorAreaSqFt, Description: strings.TrimSpace(p.Description)}
	if n == (Project{}) {
		return nil, nil
	}
	if err := checkText("project.use", n.Use, ProjectUseMaxLen); err != nil {
		return nil, err
	}
	if n.Scope != "" && !n.Scope.Valid() {
		return nil, Invalid("project.scope", fmt.Sprintf("must be one of %s, got %q", joinScopes(), n.Scope))
	}
	if err := checkRange("project.stories", n.Stories, 1, ProjectMaxStories); err != nil {
		return nil, err
	}
	if err := checkRange("project.floor_area_sqft", n.FloorAreaSqFt, 1, ProjectMaxFloorAreaSqFt); err != nil {
		return nil, err
	}
	if err := checkText("project.description", n.Description, ProjectDescriptionMaxLen); err != nil {
		return nil, err
	}
	return &n, nil
}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool {
	for _, k := range Scopes {
		if s == k {
			return true
		}
	}
	return false
}

func joinScopes() string {
	names := make([]string, len(Scopes))
	for i, s := range Scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func checkText(field, s string, maxLen int) error {
	if n := len([]rune(s)); n > maxLen {
		return Invalid(field, fmt.Sprintf("must be at most %d characters, got %d", maxLen, n))
	}
	if !utf8.ValidString(s) {
		// Postgres refuses such text, and JSON would alter it.
		return Invalid(field, "must be valid UTF-8 text")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Invalid(field, "must not contain control characters")
		}
	}
	return nil
}

func checkRange(field string, v *int, lo, hi int) error {
	if v != nil && (*v < lo || *v > hi) {
		return Invalid(field, fmt.Sprintf("must be %d to %d, got %d", lo, hi, *v))
	}
	return nil
}

// Summary is the project on one line, e.g. "single-family dwelling; scope
// adu; 1 story; 800 sq ft", without the description.
func (p Project) Summary() string {
	var parts []string
	if p.Use != "" {
		parts = append(parts, p.Use)
	}
	if p.Scope != "" {
		parts = append(parts, "scope "+string(p.Scope))
	}
	if p.Stories != nil {
		unit := "stories"
		if *p.Stories == 1 {
			unit = "story"
		}
		parts = append(parts, fmt.Sprintf("%d %s", *p.Stories, unit))
	}
	if p.FloorAreaSqFt != nil {
		parts = append(parts, fmt.Sprintf("%d sq ft", *p.FloorAreaSqFt))
	}
	return strings.Join(parts, "; ")
}
