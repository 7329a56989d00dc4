package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

func TestWorkerTokens(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tokens, err := app.NewWorkerTokens(strings.Repeat("s", 32), clock)
	require.NoError(t, err)
	tok := tokens.Mint("job-a", time.Minute)

	id, err := tokens.Check(tok, "job-a")
	require.NoError(t, err)
	require.Equal(t, "job-a", id)

	_, err = tokens.Check(tok, "job-b")
	require.ErrorIs(t, err, domain.ErrForbidden, "a token for job A cannot touch job B")

	tampered := strings.Replace(tok, "job-a", "job-b", 1)
	_, err = tokens.Check(tampered, "job-b")
	require.ErrorIs(t, err, domain.ErrUnauthenticated)
	require.NotContains(t, err.Error(), tampered, "errors never echo the token")

	other, _ := app.NewWorkerTokens(strings.Repeat("o", 32), clock)
	_, err = other.Check(tok, "job-a")
	require.ErrorIs(t, err, domain.ErrUnauthenticated, "another secret's token")

	for _, bad := range []string{"", "cwt1", "cwt1.job-a.1.x.y", "Bearer " + tok} {
		_, err = tokens.Check(bad, "job-a")
		require.ErrorIs(t, err, domain.ErrUnauthenticated, bad)
	}

	now = now.Add(time.Minute)
	_, err = tokens.Check(tok, "job-a")
	require.ErrorIs(t, err, domain.ErrUnauthenticated, "expired")

	_, err = app.NewWorkerTokens("short", nil)
	require.Error(t, err)
}
