package core

import (
	"context"
	"fmt"
	"time"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// oweWebhook records the delivery a job that just ended owes, if it has a
// webhook. Its id names the job, attempt and status
// (msg_<job>_<attempt>_<status>), so each terminal status of each attempt
// is delivered once. A job can end the same way twice in one attempt only
// through a retry in between that no worker claimed (canceled, retried,
// canceled again): that second end gets msg_<job>_<attempt>-<n>_<status>,
// n counting the job's deliveries, so it is delivered too.
func (x *txn) oweWebhook(ctx context.Context, j domain.Job) error {
	if j.WebhookURL == "" {
		return nil
	}
	const insert = `INSERT INTO webhook_deliveries (id, job_id, url, status, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, 'pending', $4, $4, $4) ON CONFLICT (id) DO NOTHING`
	id := fmt.Sprintf("msg_%s_%d_%s", j.ID, j.Attempt, j.Status)
	n, err := x.db.Exec(ctx, insert, id, j.ID, j.WebhookURL, x.now)
	if err == nil && n == 0 {
		var owed []int64
		owed, err = collect(ctx, x.db, func(r driver.Rows) (c int64, err error) { return c, r.Scan(&c) },
			`SELECT count(*) FROM webhook_deliveries WHERE job_id = $1`, j.ID)
		if err == nil {
			id = fmt.Sprintf("msg_%s_%d-%d_%s", j.ID, j.Attempt, owed[0]+1, j.Status)
			_, err = x.db.Exec(ctx, insert, id, j.ID, j.WebhookURL, x.now)
		}
	}
	if err != nil {
		return x.sql.wrap(err, "owe webhook of %s", j.ID)
	}
	return nil
}

// TakeWebhooks implements ports.WebhookOutbox.
func (s *Store) TakeWebhooks(ctx context.Context, t ports.TakeWebhooks) ([]ports.WebhookDelivery, error) {
	if _, err := domain.LeaseUntil(time.Time{}, t.Hold); err != nil {
		return nil, err
	}
	var out []ports.WebhookDelivery
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		ids, err := collect(ctx, x.db, scanString, `SELECT id FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= $1 AND ($2 = '' OR job_id = $2)
			ORDER BY next_attempt_at, id LIMIT $3`+x.sql.SkipLocked, x.now, t.JobID, max(t.Limit, 1))
		if err != nil {
			return x.sql.wrap(err, "due webhooks")
		}
		out = nil
		for _, id := range ids {
			until, _ := domain.LeaseUntil(x.now, t.Hold)
			d, err := collect(ctx, x.db, scanDelivery, `UPDATE webhook_deliveries
				SET attempts = attempts + 1, next_attempt_at = $2, updated_at = $3 WHERE id = $1
				RETURNING id, job_id, url, attempts, created_at`, id, until, x.now)
			if err != nil {
				return x.sql.wrap(err, "take webhook %s", id)
			}
			out = append(out, d...)
		}
		return nil
	})
	return out, err
}

func scanDelivery(r driver.Rows) (d ports.WebhookDelivery, err error) {
	return d, r.Scan(&d.ID, &d.JobID, &d.URL, &d.Attempt, &d.CreatedAt)
}

// WebhookDelivered implements ports.WebhookOutbox.
func (s *Store) WebhookDelivered(ctx context.Context, id string) error {
	return s.settleWebhook(ctx, id, `status = 'delivered', last_error = ''`)
}

// WebhookFailed implements ports.WebhookOutbox.
func (s *Store) WebhookFailed(ctx context.Context, id, reason string, retryAt time.Time) error {
	if retryAt.IsZero() {
		return s.settleWebhook(ctx, id, `status = 'abandoned', last_error = $3`, reason)
	}
	return s.settleWebhook(ctx, id, `last_error = $3, next_attempt_at = $4`, reason, retryAt.UTC().Truncate(time.Microsecond))
}

// settleWebhook applies set ($1 is the id, $2 the time, then args) to a
// delivery.
func (s *Store) settleWebhook(ctx context.Context, id, set string, args ...any) error {
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		n, err := x.db.Exec(ctx, `UPDATE webhook_deliveries SET `+set+`, updated_at = $2 WHERE id = $1`,
			append([]any{id, x.now}, args...)...)
		if err != nil {
			return x.sql.wrap(err, "webhook %s", id)
		}
		if n == 0 {
			return fmt.Errorf("webhook delivery %s: %w", id, domain.ErrNotFound)
		}
		return nil
	})
}
