package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Price is what one provider's model charges: per million input and output
// tokens, per request, and per web search the provider reports.
type Price struct {
	Provider string `json:"provider"`
	// Model is matched as a prefix, so "gpt-5-mini" prices the dated
	// snapshot "gpt-5-mini-2025-08-07"; the longest matching prefix wins,
	// and "*" matches any model of the provider.
	Model         string  `json:"model"`
	InputPerMTok  float64 `json:"input_per_mtok"`
	OutputPerMTok float64 `json:"output_per_mtok"`
	PerRequest    float64 `json:"per_request"`
	PerSearch     float64 `json:"per_search"`
	Note          string  `json:"note,omitempty"`
}

// PriceTable maps provider and model to a Price.
type PriceTable struct {
	prices []Price
}

// ParsePrices reads a price table: a JSON array of Price. It names the
// entry and the field that is wrong.
func ParsePrices(data []byte) (PriceTable, error) {
	var prices []Price
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&prices); err != nil {
		return PriceTable{}, fmt.Errorf("price table: %w", err)
	}
	for i, p := range prices {
		switch {
		case strings.TrimSpace(p.Provider) == "":
			return PriceTable{}, fmt.Errorf("price table entry %d: provider is required", i)
		case strings.TrimSpace(p.Model) == "":
			return PriceTable{}, fmt.Errorf("price table entry %d (%s): model is required (\"*\" for any)", i, p.Provider)
		}
		for name, v := range map[string]float64{"input_per_mtok": p.InputPerMTok, "output_per_mtok": p.OutputPerMTok,
			"per_request": p.PerRequest, "per_search": p.PerSearch} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return PriceTable{}, fmt.Errorf("price table entry %d (%s %s): %s must be a non-negative number", i, p.Provider, p.Model, name)
			}
		}
	}
	return PriceTable{prices: prices}, nil
}

// With returns t with the entries of o added; an entry of o for the same
// provider and model replaces t's.
func (t PriceTable) With(o PriceTable) PriceTable {
	out := make([]Price, 0, len(t.prices)+len(o.prices))
	for _, p := range t.prices {
		replaced := false
		for _, q := range o.prices {
			replaced = replaced || (q.Provider == p.Provider && q.Model == p.Model)
		}
		if !replaced {
			out = append(out, p)
		}
	}
	return PriceTable{prices: append(out, o.prices...)}
}

// Prices lists the table's entries, sorted by provider and model.
func (t PriceTable) Prices() []Price {
	out := append([]Price(nil), t.prices...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Model < out[j].Model
	})
	return out
}

// Lookup finds the price of provider's model: the entry with the longest
// model prefix, else the provider's "*" entry.
func (t PriceTable) Lookup(provider, model string) (Price, bool) {
	best, found := Price{}, false
	for _, p := range t.prices {
		if p.Provider != provider {
			continue
		}
		match := p.Model == "*" || strings.HasPrefix(model, p.Model)
		better := !found || (best.Model == "*" && p.Model != "*") || (p.Model != "*" && len(p.Model) > len(best.Model))
		if match && better {
			best, found = p, true
		}
	}
	return best, found
}

// Cost is what one call of provider's model with usage u costs, by the
// table; ok is false when the table has no price for it.
func (t PriceTable) Cost(provider, model string, u Usage) (usd float64, ok bool) {
	p, ok := t.Lookup(provider, model)
	if !ok {
		return 0, false
	}
	return float64(u.InputTokens)*p.InputPerMTok/1e6 + float64(u.OutputTokens)*p.OutputPerMTok/1e6 +
		p.PerRequest + float64(u.SearchCalls)*p.PerSearch, true
}

// Empty reports whether the table has no entries.
func (t PriceTable) Empty() bool { return len(t.prices) == 0 }
