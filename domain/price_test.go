package domain

import (
	"math"
	"strings"
	"testing"
)

func TestPriceLookupLongestPrefixThenWildcard(t *testing.T) {
	table, err := ParsePrices([]byte(`[
	 {"provider":"openai","model":"*","input_per_mtok":9},
	 {"provider":"openai","model":"gpt-5","input_per_mtok":1},
	 {"provider":"openai","model":"gpt-5-mini","input_per_mtok":0.25}]`))
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]float64{"gpt-5-mini-2025-08-07": 0.25, "gpt-5-2025-08-07": 1, "o3": 9} {
		p, ok := table.Lookup("openai", model)
		if !ok || p.InputPerMTok != want {
			t.Errorf("%s: got %+v %v, want input %v", model, p, ok, want)
		}
	}
	if _, ok := table.Lookup("gemini", "gemini-2.5-flash"); ok {
		t.Error("a provider without entries has no price")
	}
}

func TestPriceCost(t *testing.T) {
	table, _ := ParsePrices([]byte(`[{"provider":"p","model":"m","input_per_mtok":2,"output_per_mtok":8,"per_request":0.005,"per_search":0.01}]`))
	usd, ok := table.Cost("p", "m", Usage{InputTokens: 1_000_000, OutputTokens: 500_000, SearchCalls: 3})
	if want := 2 + 4 + 0.005 + 0.03; !ok || math.Abs(usd-want) > 1e-9 {
		t.Errorf("cost = %v %v, want %v", usd, ok, want)
	}
}

func TestParsePricesNamesTheEntryAndField(t *testing.T) {
	for body, want := range map[string]string{
		`[{"model":"m"}]`: "entry 0: provider is required",
		`[{"provider":"p","model":"m"},{"provider":"q"}]`:     "entry 1 (q): model is required",
		`[{"provider":"p","model":"m","per_search":-1}]`:      "per_search must be a non-negative number",
		`[{"provider":"p","model":"m","input_per_mtok":"x"}]`: "price table",
		`[{"provider":"p","model":"m","price":1}]`:            `unknown field "price"`,
	} {
		_, err := ParsePrices([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", body, err, want)
		}
	}
}

func TestPricesWithReplacesSameModel(t *testing.T) {
	base, _ := ParsePrices([]byte(`[{"provider":"p","model":"m","input_per_mtok":1},{"provider":"p","model":"n","input_per_mtok":1}]`))
	over, _ := ParsePrices([]byte(`[{"provider":"p","model":"m","input_per_mtok":5}]`))
	got := base.With(over)
	if p, _ := got.Lookup("p", "m"); p.InputPerMTok != 5 {
		t.Errorf("override not applied: %+v", p)
	}
	if p, _ := got.Lookup("p", "n"); p.InputPerMTok != 1 {
		t.Errorf("other entry lost: %+v", p)
	}
	if len(got.Prices()) != 2 {
		t.Errorf("entries = %+v", got.Prices())
	}
}
