package modal

import (
	"fmt"
	"strings"
)

// CheckEnv reports, in one line naming the variable, what the Modal SDK
// will miss in the environment: MODAL_TOKEN_ID, MODAL_TOKEN_SECRET, or a
// MODAL_SERVER_URL that is neither http:// nor https://. It never quotes a
// value.
func CheckEnv(getenv func(string) string) error {
	var missing []string
	for _, k := range []string{"MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"} {
		if strings.TrimSpace(getenv(k)) == "" {
			missing = append(missing, k)
		}
	}
	switch len(missing) {
	case 1:
		return fmt.Errorf("CODECHECK_EXECUTOR=modal needs %s: set it from a Modal token pair (`modal token new`)", missing[0])
	case 2:
		return fmt.Errorf("CODECHECK_EXECUTOR=modal needs MODAL_TOKEN_ID and MODAL_TOKEN_SECRET: set them from a Modal token pair (`modal token new`)")
	}
	if u := getenv("MODAL_SERVER_URL"); u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return fmt.Errorf("MODAL_SERVER_URL must start with https:// (or http:// for a local fake); leave it unset for Modal's own")
	}
	return nil
}
