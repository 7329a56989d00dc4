// Calling the provider for a section: retries with backoff, and the ProviderCall hook.

package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// call performs one provider call with retries for retryable errors:
// exponential backoff with jitter, at least the server's Retry-After. It
// is on the path to the wait for the provider (see section): what it does
// around the call is done by paid and retryDelay.
func (r *run) call(ctx context.Context, req *ports.SectionRequest, res *domain.SectionResult) (ports.SectionResponse, error) {
	r.mu.Lock()
	fatal := r.fatal
	r.mu.Unlock()
	if fatal != nil {
		return ports.SectionResponse{}, fatal
	}
	for try := 1; ; try++ {
		est, err := r.reserveCall()
		if err != nil {
			return ports.SectionResponse{}, err
		}
		start := time.Now()
		resp, err := r.llm.Research(ctx, *req)
		res.Attempts++
		if err == nil {
			r.paid(est, &resp, res, time.Since(start))
			return resp, nil
		}
		r.settleCall(est, nil)
		delay, final := r.retryDelay(ctx, req, try, time.Since(start), err)
		if final != nil {
			return resp, final
		}
		if sleep(ctx, delay) != nil {
			return resp, err
		}
	}
}

// paid prices a provider's answer and adds its usage to res and the job's
// spend.
func (r *run) paid(est float64, resp *ports.SectionResponse, res *domain.SectionResult, took time.Duration) {
	resp.Usage = r.w.priced(r.llm.Name(), cmp.Or(resp.Model, r.llm.Model()), resp.Usage, r.log)
	r.settleCall(est, resp.Usage.CostUSD)
	res.Usage = res.Usage.Add(resp.Usage)
	r.hookCall("ok", resp.Usage, took)
}

// retryDelay is how long to wait before trying again after try, the
// failed call that returned err; or, when there is no next try, the error
// to give up with (final).
func (r *run) retryDelay(ctx context.Context, req *ports.SectionRequest, try int, took time.Duration, err error) (delay time.Duration, final error) {
	if ctx.Err() != nil {
		r.hookCall("canceled", domain.Usage{}, took)
		return 0, err
	}
	var providerErr *ports.ProviderError
	if !errors.As(err, &providerErr) || !providerErr.Retryable {
		r.hookCall("permanent_error", domain.Usage{}, took)
		if providerErr != nil && providerErr.EnvVar != "" {
			// Credentials or configuration: every other section would
			// get the same answer, so they are not sent.
			r.mu.Lock()
			r.fatal = err
			r.mu.Unlock()
		}
		return 0, err
	}
	r.hookCall("retryable_error", domain.Usage{}, took)
	if try >= r.w.cfg.SectionAttempts {
		return 0, fmt.Errorf("gave up after %d attempts: %w", try, err)
	}
	delay = max(r.w.backoff(try), providerErr.RetryAfter)
	r.log.Info("provider call failed; retrying", "section", req.Section.Key, "try", try, "delay", delay, "err", err)
	return delay, nil
}

// hookCall reports one provider call's outcome to the ProviderCall hook.
func (r *run) hookCall(outcome string, u domain.Usage, took time.Duration) {
	if h := r.w.cfg.Hooks.ProviderCall; h != nil {
		h(r.llm.Name(), outcome, u, took)
	}
}

// backoff is the delay before retry number try (1-based): base*2^(try-1),
// capped, with up to 50% jitter.
func (w *Worker) backoff(try int) time.Duration {
	d := w.cfg.BackoffBase << (try - 1)
	if d > w.cfg.BackoffMax || d <= 0 {
		d = w.cfg.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}
