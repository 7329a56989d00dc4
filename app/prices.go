package app

import (
	_ "embed"
	"fmt"
	"log/slog"
	"math"

	"github.com/codecheck/codecheck/domain"
)

// defaultPrices is the price table codecheck ships: list prices in USD per
// million tokens, per request and per web search, as the providers publish
// them. CODECHECK_PRICES adds to it or replaces entries.
//
//go:embed prices.json
var defaultPrices []byte

// DefaultPrices is the shipped price table.
func DefaultPrices() domain.PriceTable {
	t, err := domain.ParsePrices(defaultPrices)
	if err != nil {
		panic(fmt.Sprintf("app/prices.json: %v", err)) // a build defect, caught by TestDefaultPricesParse
	}
	return t
}

// priced returns the usage of one call with its cost: the provider's own
// figure where it reports one, else the price table's; a difference between
// the two is logged at debug level. A model the table does not price keeps
// the provider's figure, or none.
func (w *Worker) priced(provider, model string, u domain.Usage, log *slog.Logger) domain.Usage {
	computed, ok := w.cfg.Prices.Cost(provider, model, u)
	switch {
	case !ok:
		if u.CostUSD == nil {
			log.Debug("no price for the model; cost unknown", "provider", provider, "model", model)
		}
	case u.CostUSD != nil:
		if diff := *u.CostUSD - computed; math.Abs(diff) > 1e-6 {
			log.Debug("provider's cost differs from the price table; keeping the provider's",
				"provider", provider, "model", model, "reported_usd", *u.CostUSD, "table_usd", computed)
		}
	default:
		u.CostUSD = &computed
	}
	return u
}
