package main

import (
	"context"
	"time"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/webhook"
	"github.com/codecheck/codecheck/app"
)

// webhookOut is what webhooks add when CODECHECK_WEBHOOK_SECRET is set: a
// validator for webhook URLs at submit, and delivery on terminal statuses.
type webhookOut struct {
	fx.Out
	Validate func(ctx context.Context, rawURL string) error
	Hooks    app.Hooks       `group:"hooks"`
	Sender   *webhook.Sender // nil when webhooks are off
}

func webhookModule() fx.Option {
	return fx.Module("webhook", fx.Provide(newWebhooks))
}

func newWebhooks(lc fx.Lifecycle, cfg config, env *environment) (webhookOut, error) {
	if cfg.WebhookSecret == "" {
		return webhookOut{}, nil // jobs with a webhook_url are refused with a 422 that says so
	}
	sender, err := webhook.New(cfg.WebhookSecret, webhook.NewHTTPClient(cfg.WebhookAllowPrivate, 10*time.Second),
		webhook.Options{Logger: env.log})
	if err != nil {
		return webhookOut{}, usageError{err}
	}
	lc.Append(fx.StopHook(sender.Close))
	return webhookOut{Validate: webhook.NewValidator(cfg.WebhookAllowPrivate, nil), Hooks: app.Hooks{JobDone: sender.JobDone},
		Sender: sender}, nil
}
