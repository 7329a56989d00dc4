package main

import (
	"context"
	"time"

	"go.uber.org/fx"

	"github.com/codecheck/codecheck/adapters/webhook"
	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/ports"
)

// webhookOut is what webhooks add when CODECHECK_WEBHOOK_SECRET is set: a
// validator for webhook URLs at submit, and a sender of the deliveries the
// store owes, woken at once when this process ends a job.
type webhookOut struct {
	fx.Out
	Validate func(ctx context.Context, rawURL string) error
	Hooks    app.Hooks       `group:"hooks"`
	Sender   *webhook.Sender // nil when webhooks are off
}

func webhookModule() fx.Option {
	return fx.Module("webhook", fx.Provide(newWebhooks))
}

// newWebhooks builds the sender; it starts with the app (after the store
// it reads has opened) and stops with it, leaving what it has not sent
// in the store for the next start.
func newWebhooks(lc fx.Lifecycle, cfg config, env *environment, outbox ports.WebhookOutbox, jobs ports.JobStore,
	changes ports.Changes) (webhookOut, error) {
	if cfg.WebhookSecret == "" {
		return webhookOut{}, nil // jobs with a webhook_url are refused with a 422 that says so
	}
	sender, err := webhook.New(cfg.WebhookSecret, webhook.NewHTTPClient(cfg.WebhookAllowPrivate, 10*time.Second),
		outbox, jobs, changes, webhook.Options{Logger: env.log})
	if err != nil {
		return webhookOut{}, usageError{err}
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { sender.Start(); return nil },
		OnStop:  sender.Close,
	})
	return webhookOut{Validate: webhook.NewValidator(cfg.WebhookAllowPrivate, nil), Hooks: app.Hooks{JobDone: sender.JobDone},
		Sender: sender}, nil
}
