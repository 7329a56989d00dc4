package httpapi_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	httpapi "github.com/codecheck/codecheck/adapters/http"
)

// What a spec linter (make lint-api: Redocly's recommended rules) asks of
// the spec, checked without Node: servers, a licence, an explicit security
// requirement on every operation (empty on the open probes), and a 4xx
// response on every operation but the probes, which take no input (their
// exception is justified in .redocly.lint-ignore.yaml). Event streams
// document their 204.
func TestSpecMeetsTheLinterRules(t *testing.T) {
	raw, err := httpapi.Spec(false)
	require.NoError(t, err)
	var spec struct {
		Servers []struct{ URL string } `json:"servers"`
		Info    struct {
			License *struct{ Name string } `json:"license"`
		} `json:"info"`
		Paths map[string]map[string]struct {
			OperationID string                     `json:"operationId"`
			Security    *[]map[string][]string     `json:"security"`
			Responses   map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &spec))
	require.Equal(t, "/", spec.Servers[0].URL, "the server that serves the spec")
	require.NotEmpty(t, spec.Info.License.Name)

	open := map[string]bool{"healthz": true, "readyz": true}
	for path, ops := range spec.Paths {
		for method, op := range ops {
			require.NotNil(t, op.Security, "%s %s declares its security", method, path)
			if open[op.OperationID] {
				require.Empty(t, *op.Security, "%s is open: security: []", path)
				continue
			}
			require.NotEmpty(t, *op.Security, "%s %s", method, path)
			has4xx := false
			for status := range op.Responses {
				has4xx = has4xx || strings.HasPrefix(status, "4")
			}
			require.True(t, has4xx, "%s %s has a 4xx response", method, path)
		}
	}
	require.Contains(t, spec.Paths["/jobs/{id}/events"]["get"].Responses, "204")

	ignore, err := os.ReadFile(filepath.Join("..", "..", ".redocly.lint-ignore.yaml"))
	require.NoError(t, err)
	for id := range open {
		require.Contains(t, string(ignore), "'#/paths/~1"+id+"/get/responses'", "the exception is for the probes alone")
	}
}
