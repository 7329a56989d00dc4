package ports

import (
	"context"
	"time"
)

// WebhookDelivery is one webhook message owed for a job that reached a
// terminal status (completed, failed or canceled) with a webhook_url.
type WebhookDelivery struct {
	// ID is the message id (the webhook-id header): the same on every
	// attempt, so receivers can drop duplicates.
	ID    string
	JobID string
	URL   string
	// Attempt counts attempts including the one the delivery was taken for.
	Attempt   int
	CreatedAt time.Time
}

// TakeWebhooks asks for deliveries that are due.
type TakeWebhooks struct {
	// JobID takes only that job's deliveries; empty takes any job's.
	JobID string
	// Limit bounds how many are taken (<= 0: 1).
	Limit int
	// Hold is how long a taken delivery stays away from other takers; if
	// the taker neither reports it delivered nor failed by then (it
	// crashed), it is due again.
	Hold time.Duration
}

// WebhookOutbox keeps webhook deliveries in the store, so none is lost when
// a process stops: the store owes a delivery in the same transaction that
// moves a job with a webhook_url to a terminal status.
type WebhookOutbox interface {
	// TakeWebhooks takes up to t.Limit due deliveries, oldest first, for
	// an attempt each. Concurrent takers never get the same delivery.
	TakeWebhooks(ctx context.Context, t TakeWebhooks) ([]WebhookDelivery, error)

	// WebhookDelivered records that the delivery reached its receiver; it
	// is not offered again. domain.ErrNotFound for an unknown id.
	WebhookDelivered(ctx context.Context, id string) error

	// WebhookFailed records a failed attempt with why: the delivery is due
	// again at retryAt, or given up for good when retryAt is zero.
	// domain.ErrNotFound for an unknown id.
	WebhookFailed(ctx context.Context, id, reason string, retryAt time.Time) error
}
