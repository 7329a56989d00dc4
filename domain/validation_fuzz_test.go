package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The validation functions either refuse input with a *ValidationError
// naming the field, or accept it in a normal form that is stable (checking
// it again changes nothing) and survives a JSON round trip, which is how it
// travels to the store, the API and the worker.

// requireValidationError fails unless err is a *ValidationError for one of
// fields that unwraps to ErrInvalid and states a rule.
func requireValidationError(t *testing.T, err error, fields ...string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want a *ValidationError wrapping ErrInvalid, got %T %v", err, err)
	}
	if !slices.Contains(fields, ve.Field) || strings.TrimSpace(ve.Rule) == "" {
		t.Fatalf("want a rule for one of %v, got field %q rule %q", fields, ve.Field, ve.Rule)
	}
}

// requireJSONRoundTrip fails unless v decodes from its own JSON to an equal
// value.
func requireJSONRoundTrip[T any](t *testing.T, v T) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	var back T
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("unmarshal %s: %v", raw, err)
	}
	if !reflect.DeepEqual(back, v) {
		t.Fatalf("JSON round trip changed the value:\n got %#v\nwant %#v", back, v)
	}
}

func requireCleanText(t *testing.T, field, s string, maxRunes int) {
	t.Helper()
	if s != strings.TrimSpace(s) {
		t.Fatalf("%s %q is not trimmed", field, s)
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		t.Fatalf("%s has %d characters, over %d", field, n, maxRunes)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		t.Fatalf("%s %q holds a control character", field, s)
	}
}

func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{
		"1600 Pennsylvania Ave NW, Washington, DC 20500", "  100 N 1st St, Springfield, IL 62701\t",
		"", "    ", "abcd", "abcde", strings.Repeat("x", 300), strings.Repeat("é", 301),
		"1 Main St\n, Town", "1 Main St\u0085Town", "Calle Mayor 1, 28013 Madrid", "\u00a0 12 Rue, Paris \u3000",
		"1 Main St \xff, Town",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeAddress(in)
		if err != nil {
			requireValidationError(t, err, "address")
			return
		}
		requireCleanText(t, "address", out, AddressMaxLen)
		if utf8.RuneCountInString(out) < AddressMinLen {
			t.Fatalf("accepted %q, shorter than %d characters", out, AddressMinLen)
		}
		again, err := NormalizeAddress(out)
		if err != nil || again != out {
			t.Fatalf("not stable: %q -> %q, %v", out, again, err)
		}
		requireJSONRoundTrip(t, out)
	})
}

func FuzzNormalizeProject(f *testing.F) {
	f.Add("single-family dwelling", "adu", true, 1, true, 800, "detached ADU in the rear yard")
	f.Add("  ", "", false, 0, false, 0, " \t ")
	f.Add("office", "tenant_improvement", true, 0, false, 0, "")
	f.Add("", "change_of_use", false, 0, true, ProjectMaxFloorAreaSqFt+1, "")
	f.Add("", "ADU", false, 0, false, 0, "")
	f.Add("", "", true, ProjectMaxStories, true, ProjectMaxFloorAreaSqFt, strings.Repeat("d", ProjectDescriptionMaxLen))
	f.Add("warehouse\x00", "new", false, 0, false, 0, "line one\nline two")
	f.Add("bar \xfe", "", false, 0, false, 0, "")
	f.Fuzz(func(t *testing.T, use, scope string, hasStories bool, stories int, hasArea bool, area int, description string) {
		p := &Project{Use: use, Scope: Scope(scope), Description: description}
		if hasStories {
			p.Stories = &stories
		}
		if hasArea {
			p.FloorAreaSqFt = &area
		}
		before := *p
		out, err := NormalizeProject(p)
		if !reflect.DeepEqual(*p, before) {
			t.Fatalf("the input was modified: %#v", *p)
		}
		if err != nil {
			requireValidationError(t, err, "project.use", "project.scope", "project.stories",
				"project.floor_area_sqft", "project.description")
			return
		}
		if out == nil {
			if strings.TrimSpace(use) != "" || scope != "" || hasStories || hasArea || strings.TrimSpace(description) != "" {
				t.Fatalf("a project with content normalised to nil: %#v", before)
			}
			return
		}
		requireCleanText(t, "use", out.Use, ProjectUseMaxLen)
		requireCleanText(t, "description", out.Description, ProjectDescriptionMaxLen)
		if out.Scope != "" && !out.Scope.Valid() {
			t.Fatalf("accepted scope %q", out.Scope)
		}
		if out.Stories != nil && (*out.Stories < 1 || *out.Stories > ProjectMaxStories) {
			t.Fatalf("accepted %d stories", *out.Stories)
		}
		if out.FloorAreaSqFt != nil && (*out.FloorAreaSqFt < 1 || *out.FloorAreaSqFt > ProjectMaxFloorAreaSqFt) {
			t.Fatalf("accepted %d sq ft", *out.FloorAreaSqFt)
		}
		again, err := NormalizeProject(out)
		if err != nil || !reflect.DeepEqual(again, out) {
			t.Fatalf("not stable: %#v -> %#v, %v", out, again, err)
		}
		requireJSONRoundTrip(t, *out)
		_ = out.Summary()
	})
}
