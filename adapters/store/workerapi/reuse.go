// Reuse: the section another job of the same jurisdiction researched, asked of the worker API.

package workerapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
)

// reusable is Reusable.
type reusable struct {
	JobID   string               `json:"job_id"`
	Section domain.SectionResult `json:"section"`
}

// ReusableSection implements ports.WorkerStore: GET
// /worker/jobs/{id}/reusable/{key}. The server finds the jurisdiction from
// the job itself; a 404 (nothing to reuse) is domain.ErrNotFound.
func (c *Client) ReusableSection(ctx context.Context, q ports.ReuseQuery) (ports.Reusable, error) {
	params := url.Values{"model": {q.Model}, "not_before": {q.NotBefore.UTC().Format(time.RFC3339Nano)}}
	var out reusable
	err := c.do(ctx, &request{op: "reusable " + q.Key, method: http.MethodGet, jobID: q.JobID,
		path: "/reusable/" + url.PathEscape(q.Key) + "?" + params.Encode(), out: &out, unfenced: true})
	if err != nil {
		return ports.Reusable{}, err
	}
	return ports.Reusable{JobID: out.JobID, Section: out.Section}, nil
}
