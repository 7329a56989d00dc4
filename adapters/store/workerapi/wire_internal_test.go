package workerapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

func TestRetryAfter(t *testing.T) {
	require.Equal(t, 3*time.Second, retryAfter("3"))
	require.Zero(t, retryAfter(""))
	require.Zero(t, retryAfter("soon"))
	require.Zero(t, retryAfter("-1"))
	in := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	require.InDelta(t, time.Hour, retryAfter(in), float64(2*time.Second))
}

func TestTransientAnswers(t *testing.T) {
	for _, s := range []int{429, 502, 503, 504} {
		require.True(t, transient(s), s)
	}
	for _, s := range []int{200, 400, 401, 403, 404, 409, 413, 422, 500} {
		require.False(t, transient(s), s)
	}
}

func TestAnswersBecomeDomainErrors(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   error
	}{
		{409, `{"type":"urn:codecheck:problem:lease-lost","detail":"the lease is lost"}`, domain.ErrLeaseLost},
		{409, `{"type":"urn:codecheck:problem:lease-held"}`, domain.ErrLeaseHeld},
		{409, `{"title":"Conflict"}`, domain.ErrConflict},
		{404, `{}`, domain.ErrNotFound},
		{401, `{}`, domain.ErrUnauthenticated},
		{403, `{}`, domain.ErrForbidden},
		{422, `{}`, domain.ErrInvalid},
		{413, `<html>too large</html>`, domain.ErrInvalid},
	}
	for _, c := range cases {
		err := answerError("op", c.status, []byte(c.body))
		require.ErrorIs(t, err, c.want, c.status)
	}
	err := answerError("save section x", 500, []byte(`{"detail":"internal server error"}`))
	require.EqualError(t, err, "worker API save section x: 500 Internal Server Error: internal server error")
	for _, sentinel := range []error{domain.ErrLeaseLost, domain.ErrConflict, domain.ErrNotFound, domain.ErrInvalid} {
		require.NotErrorIs(t, err, sentinel, "a server error is none of the domain's")
	}
}

func TestLeaseInMilliseconds(t *testing.T) {
	require.Equal(t, int64(30000), ms(30*time.Second))
	require.Equal(t, int64(1), ms(time.Microsecond), "a positive lease stays positive")
	require.Equal(t, int64(0), ms(0))
}
