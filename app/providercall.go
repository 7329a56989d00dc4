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
// exponential backoff with jitter, at least the server's Retry-After.
func (r *run) call(ctx context.Context, req ports.SectionRequest, res *domain.SectionResult) (ports.SectionResponse, error) {
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
		resp, err := r.llm.Research(ctx, req)
		res.Attempts++
		took := time.Since(start)
		if err != nil {
			r.settleCall(est, nil)
		}
		if err == nil {
			resp.Usage = r.w.priced(r.llm.Name(), cmp.Or(resp.Model, r.llm.Model()), resp.Usage, r.log)
			r.settleCall(est, resp.Usage.CostUSD)
			res.Usage = res.Usage.Add(resp.Usage)
			r.hookCall("ok", resp.Usage, took)
			return resp, nil
		}
		if ctx.Err() != nil {
			r.hookCall("canceled", domain.Usage{}, took)
			return resp, err
		}
		var providerErr *ports.ProviderError
		retryable := errors.As(err, &providerErr) && providerErr.Retryable
		if !retryable {
			r.hookCall("permanent_error", domain.Usage{}, took)
			if providerErr != nil && providerErr.EnvVar != "" {
				// Credentials or configuration: every other section would
				// get the same answer, so they are not sent.
				r.mu.Lock()
				r.fatal = err
				r.mu.Unlock()
			}
			return resp, err
		}
		r.hookCall("retryable_error", domain.Usage{}, took)
		if try >= r.w.cfg.SectionAttempts || ctx.Err() != nil {
			return resp, fmt.Errorf("gave up after %d attempts: %w", try, err)
		}
		delay := r.w.backoff(try)
		if providerErr.RetryAfter > delay {
			delay = providerErr.RetryAfter
		}
		r.log.Info("provider call failed; retrying", "section", req.Section.Key, "try", try, "delay", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, err
		case <-t.C:
		}
	}
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
