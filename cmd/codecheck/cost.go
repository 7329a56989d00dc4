package main

import (
	"os"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

// The cost settings: the default cap of a job and the price table.
var (
	envMaxCost = setting{Name: "CODECHECK_MAX_COST_USD", Unset: "none",
		Meaning: "cost cap in US dollars of a job whose request sets no `max_cost_usd` (`POST /jobs`, `check --max-cost-usd`): no provider call is made whose expected cost would pass it; the sections left end `skipped`"}
	envPrices = setting{Name: "CODECHECK_PRICES", Unset: "built-in table",
		Meaning: "JSON file of provider prices (`app/prices.json`'s format) whose entries add to or replace the built-in table; it prices the calls of providers that report no cost"}
)

// costConfig is what the cost settings say.
type costConfig struct {
	MaxUSD *float64          // nil: no default cap
	Prices domain.PriceTable // the built-in table with CODECHECK_PRICES applied
}

// cost reads the cost settings. A price file that cannot be read or parsed
// is refused naming the variable and what is wrong.
func (r *envReader) cost() costConfig {
	c := costConfig{Prices: app.DefaultPrices()}
	if v := r.str(envMaxCost); v != "" {
		usd := r.float(envMaxCost)
		if err := domain.CheckMaxCost(envMaxCost.Name, &usd); err != nil {
			r.fail(envMaxCost.Name, "must be more than 0 and at most %g (US dollars), got %q", domain.MaxCostLimit, v)
		} else {
			c.MaxUSD = &usd
		}
	}
	if path := r.str(envPrices); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			r.fail(envPrices.Name, "cannot read the price file: %v", err)
			return c
		}
		custom, err := domain.ParsePrices(data)
		if err != nil {
			r.fail(envPrices.Name, "%s: %v", path, err)
			return c
		}
		c.Prices = c.Prices.With(custom)
	}
	return c
}

// maxCostValue is --max-cost-usd: nil when not given, else checked.
func maxCostValue(set bool, usd float64) (*float64, error) {
	if !set {
		return nil, nil
	}
	if err := domain.CheckMaxCost("--max-cost-usd", &usd); err != nil {
		return nil, err
	}
	return &usd, nil
}
