package core

import (
	"context"
	"fmt"
	"time"

	"github.com/codecheck/codecheck/adapters/store/internal/driver"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var _ ports.ProviderBudget = (*Store)(nil)

// Acquire implements ports.ProviderBudget: one write transaction. The
// upsert creates the provider's row on first use and, on Postgres, locks
// it until commit, so concurrent acquirers in any process take their slots
// one after another; the schedule itself is ports.Rate.Schedule.
func (s *Store) Acquire(ctx context.Context, _, provider string, rate ports.Rate) (time.Duration, error) {
	if err := checkProvider(provider); err != nil {
		return 0, err
	}
	if err := rate.Validate(); err != nil {
		return 0, err
	}
	var wait time.Duration
	err := s.write(ctx, func(ctx context.Context, x *txn) error {
		rows, err := collect(ctx, x.db, scanBudget, `INSERT INTO provider_limits (provider, full_at, paused_until, updated_at)
			VALUES ($1, $2, $2, $2)
			ON CONFLICT (provider) DO UPDATE SET updated_at = excluded.updated_at
			RETURNING full_at, paused_until`, provider, x.now)
		if err != nil {
			return x.sql.wrap(err, "provider budget of %s", provider)
		}
		if len(rows) != 1 {
			return fmt.Errorf("%s: provider budget of %s: the upsert returned %d rows", x.sql.Name, provider, len(rows))
		}
		at, full := rate.Schedule(x.now, rows[0].full, rows[0].pausedUntil)
		if _, err := x.db.Exec(ctx, `UPDATE provider_limits SET full_at = $2 WHERE provider = $1`,
			provider, full.Truncate(time.Microsecond)); err != nil {
			return x.sql.wrap(err, "take a call of %s", provider)
		}
		wait = at.Sub(x.now)
		return nil
	})
	return wait, err
}

// Pause implements ports.ProviderBudget: one upsert that keeps the later
// end.
func (s *Store) Pause(ctx context.Context, _, provider string, d time.Duration) error {
	if err := checkProvider(provider); err != nil {
		return err
	}
	if d <= 0 {
		return domain.Invalid("pause", "must be positive")
	}
	return s.write(ctx, func(ctx context.Context, x *txn) error {
		until := x.now.Add(d).Truncate(time.Microsecond)
		_, err := x.db.Exec(ctx, `INSERT INTO provider_limits (provider, full_at, paused_until, updated_at)
			VALUES ($1, $2, $3, $2)
			ON CONFLICT (provider) DO UPDATE SET updated_at = excluded.updated_at,
			paused_until = CASE WHEN provider_limits.paused_until > excluded.paused_until
				THEN provider_limits.paused_until ELSE excluded.paused_until END`, provider, x.now, until)
		if err != nil {
			return x.sql.wrap(err, "pause %s", provider)
		}
		return nil
	})
}

// Paused implements ports.ProviderBudget: one read.
func (s *Store) Paused(ctx context.Context, _, provider string) (time.Duration, error) {
	if err := checkProvider(provider); err != nil {
		return 0, err
	}
	until, err := collect(ctx, s.db, scanTime, `SELECT paused_until FROM provider_limits WHERE provider = $1`, provider)
	if err != nil {
		return 0, s.sql.wrap(err, "pause of %s", provider)
	}
	if len(until) == 0 {
		return 0, nil
	}
	return max(until[0].Sub(s.now()), 0), nil
}

func checkProvider(provider string) error {
	if provider == "" {
		return domain.Invalid("provider", "is required")
	}
	return nil
}

// budgetRow is a provider's row: when its bucket is full again and when its
// pause ends.
type budgetRow struct{ full, pausedUntil time.Time }

func scanBudget(r driver.Rows) (b budgetRow, err error) { return b, r.Scan(&b.full, &b.pausedUntil) }

func scanTime(r driver.Rows) (t time.Time, err error) { return t, r.Scan(&t) }
