// The provider budget over the worker API: a call's slot and the provider's pause, shared with every process on the server's store.

package workerapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

var _ ports.ProviderBudget = (*Client)(nil)

// takeCallBody is TakeCallBody.
type takeCallBody struct {
	PerMinute int `json:"per_minute"`
	Burst     int `json:"burst"`
}

// takeCallAnswer is TakeCallOutput's body.
type takeCallAnswer struct {
	WaitMS int64 `json:"wait_ms"`
}

// pauseBody is PauseProviderBody.
type pauseBody struct {
	PauseMS int64 `json:"pause_ms"`
}

// pausedAnswer is PausedOutput's body.
type pausedAnswer struct {
	PausedMS int64 `json:"paused_ms"`
}

// Acquire implements ports.ProviderBudget: POST
// /worker/jobs/{id}/providers/{provider}/calls. A retry after a lost
// answer takes a second slot: the budget errs on the side of the provider.
func (c *Client) Acquire(ctx context.Context, jobID, provider string, rate ports.Rate) (time.Duration, error) {
	if err := checkBudgetCall(provider, rate.Validate()); err != nil {
		return 0, err
	}
	var out takeCallAnswer
	err := c.do(ctx, &request{op: "take a call of " + provider, method: http.MethodPost, jobID: jobID,
		path: providerPath(provider, "/calls"), unfenced: true, in: takeCallBody{PerMinute: rate.PerMinute, Burst: rate.Burst}, out: &out})
	return time.Duration(out.WaitMS) * time.Millisecond, err
}

// Pause implements ports.ProviderBudget: POST
// /worker/jobs/{id}/providers/{provider}/pause, with d from the server's
// now, so the clocks of worker and server need not agree.
func (c *Client) Pause(ctx context.Context, jobID, provider string, d time.Duration) error {
	if d <= 0 {
		return domain.Invalid("pause", "must be positive")
	}
	if err := checkBudgetCall(provider, nil); err != nil {
		return err
	}
	return c.do(ctx, &request{op: "pause " + provider, method: http.MethodPost, jobID: jobID,
		path: providerPath(provider, "/pause"), unfenced: true, in: pauseBody{PauseMS: ms(d)}, out: &pausedAnswer{}})
}

// Paused implements ports.ProviderBudget: GET
// /worker/jobs/{id}/providers/{provider}/pause.
func (c *Client) Paused(ctx context.Context, jobID, provider string) (time.Duration, error) {
	if err := checkBudgetCall(provider, nil); err != nil {
		return 0, err
	}
	var out pausedAnswer
	err := c.do(ctx, &request{op: "pause of " + provider, method: http.MethodGet, jobID: jobID,
		path: providerPath(provider, "/pause"), unfenced: true, out: &out})
	return time.Duration(out.PausedMS) * time.Millisecond, err
}

func providerPath(provider, rest string) string {
	return "/providers/" + url.PathEscape(provider) + rest
}

// checkBudgetCall refuses what the server would, without a request.
func checkBudgetCall(provider string, rateErr error) error {
	if provider == "" {
		return domain.Invalid("provider", "is required")
	}
	return rateErr
}
