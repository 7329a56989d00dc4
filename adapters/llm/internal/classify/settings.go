package classify

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Settings are what every provider adapter checks before its first call.
type Settings struct {
	Provider, KeyEnv, BaseURLEnv string
	Key, BaseURL                 string
	Timeout                      time.Duration
}

// Check validates s and returns the base URL without a trailing slash. A
// missing key or a bad base URL is an error naming the variable to set; the
// URL itself is not repeated, as it may carry credentials.
func (s Settings) Check() (string, error) {
	if strings.TrimSpace(s.Key) == "" {
		return "", fmt.Errorf("%s: no API key: set %s", s.Provider, s.KeyEnv)
	}
	base := strings.TrimRight(s.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s: invalid base URL: check %s", s.Provider, s.BaseURLEnv)
	}
	if s.Timeout < 0 {
		return "", fmt.Errorf("%s: negative timeout %s", s.Provider, s.Timeout)
	}
	return base, nil
}
