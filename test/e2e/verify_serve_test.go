package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A job posted with "verify": true on serve: its event stream carries a
// section event marked verified for each section and every event's
// verified progress; GET /jobs/{id} shows researched and verified; watch,
// following the stream, counts the verifications.
func TestHTTPVerifyProgress(t *testing.T) {
	for _, db := range stores {
		t.Run(db.name, func(t *testing.T) {
			srv := launchServe(t, "127.0.0.1", serveEnv(t, db.url(t), "CODECHECK_FAKE_LLM_LATENCY=400ms",
				"CODECHECK_SECTION_CONCURRENCY=1"))
			resp, body := apiCall(t, http.MethodPost, srv.base+"/jobs",
				`{"address":"`+testAddress+`","llm_provider":"fake","sections":["zoning_use"],"verify":true}`, nil)
			require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
			var job struct {
				ID         string `json:"id"`
				Verify     bool   `json:"verify"`
				Researched string `json:"researched"`
				Verified   string `json:"verified"`
			}
			require.NoError(t, json.Unmarshal(body, &job))
			require.True(t, job.Verify)
			require.Equal(t, "0/2", job.Verified)

			watch := exec.Command(binary, "watch", job.ID)
			watch.Env = baseEnv(t, "CODECHECK_API_URL="+srv.base)
			watched := make(chan []byte, 1)
			go func() {
				out, _ := watch.CombinedOutput()
				watched <- out
			}()

			var verified []string
			var last string
			for _, m := range followEvents(t, srv.base, job.ID, "") {
				if m.Event != "job" && m.Event != "section" {
					continue
				}
				var d struct {
					Key              string `json:"key"`
					Status           string `json:"status"`
					Verified         bool   `json:"verified"`
					VerifiedProgress string `json:"verified_progress"`
				}
				require.NoError(t, json.Unmarshal([]byte(m.Data), &d), m.Data)
				require.NotEmpty(t, d.VerifiedProgress, "every event of a verify job: %s", m.Data)
				last = d.VerifiedProgress
				if d.Verified {
					require.Equal(t, "section", m.Event)
					require.Equal(t, "completed", d.Status)
					verified = append(verified, d.Key+" "+d.VerifiedProgress)
				}
			}
			require.Equal(t, []string{"jurisdiction 1/2", "zoning_use 2/2"}, verified)
			require.Equal(t, "2/2", last)

			_, body = apiCall(t, http.MethodGet, srv.base+"/jobs/"+job.ID, "", nil)
			require.NoError(t, json.Unmarshal(body, &job))
			require.Equal(t, "2/2", job.Researched)
			require.Equal(t, "2/2", job.Verified)

			out := string(<-watched)
			require.Contains(t, out, "job "+job.ID+" completed (2/2)")
			require.True(t, strings.Contains(out, "[2/2 verified]"), "watch counts the verifications:\n%s", out)
		})
	}
}
