package httpapi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrefersMarkdown(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                      false,
		"*/*":                                   false,
		"application/json":                      false,
		"text/markdown":                         true,
		"text/*":                                true,
		"text/markdown;charset=utf-8":           true,
		"text/markdown, application/json;q=0.9": true,
		"application/json, text/markdown;q=0.5": false,
		"text/markdown;q=0.5, */*;q=0.1":        true,
		"text/markdown;q=0, */*":                false,
		"text/html, */*;q=0.8":                  false,
		"garbage;;;":                            false,
	} {
		require.Equal(t, want, prefersMarkdown(accept), "Accept: %q", accept)
	}
}

func TestAuthorizedComparesEveryKey(t *testing.T) {
	keys := hashKeys([]string{"alpha", " beta ", ""})
	require.Len(t, keys, 2, "blank keys are dropped, others trimmed")
	require.True(t, authorized(keys, "Bearer alpha"))
	require.True(t, authorized(keys, "bearer beta"))
	require.False(t, authorized(keys, "Bearer gamma"))
	require.False(t, authorized(keys, "Bearer "))
	require.False(t, authorized(keys, "alpha"))
	require.False(t, authorized(nil, "Bearer alpha"))
}
