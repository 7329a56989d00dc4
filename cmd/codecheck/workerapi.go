package main

import (
	"fmt"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/store/workerapi"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/ports"
)

// The worker API: `serve` offers it when CODECHECK_WORKER_SECRET is set,
// and `work` uses it instead of a database when CODECHECK_API_URL is.

// workerAPIModules is the graph of `work` through the worker API: the
// worker's store and provider budget over HTTP with the job's token,
// providers, the worker and metrics for the summary line. No database, no
// webhook outbox.
func workerAPIModules() []fx.Option {
	return []fx.Option{
		fx.Module("workerapi", fx.Provide(newWorkerAPIClient,
			func(c *workerapi.Client) ports.WorkerStore { return c },
			func(c *workerapi.Client) ports.Changes { return c },
			func(c *workerapi.Client) ports.ProviderBudget { return c })),
		providersModule(),
		fx.Module("core", fx.Provide(newWorker)),
		metricsModule(),
	}
}

func newWorkerAPIClient(cfg config) (*workerapi.Client, error) {
	c, err := workerapi.New(cfg.APIURL, workerapi.StaticToken(cfg.WorkerToken))
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", envAPIURL.Name, err)}
	}
	return c, nil
}

// newWorkerTokens returns the worker tokens of CODECHECK_WORKER_SECRET, or
// nil (no worker API, hand-offs carry no token) when it is unset.
func newWorkerTokens(cfg config) (*app.WorkerTokens, error) {
	if cfg.WorkerSecret == "" {
		return nil, nil
	}
	t, err := app.NewWorkerTokens(cfg.WorkerSecret, nil)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", envWorkerSecret.Name, err)}
	}
	return t, nil
}
