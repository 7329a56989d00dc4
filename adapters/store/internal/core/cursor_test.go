package core

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	at2, id, err := decodeCursor(encodeCursor(at, "0199-abc:def"))
	require.NoError(t, err)
	require.True(t, at.Equal(at2))
	require.Equal(t, "0199-abc:def", id)
}

func TestCursorRejectsGarbage(t *testing.T) {
	for _, c := range []string{"", "!!", "bm8tY29sb24", "eDox", "MTIzOg"} { // "", bad base64, "no-colon", "x:1", "123:"
		_, _, err := decodeCursor(c)
		require.ErrorIs(t, err, domain.ErrInvalid, c)
	}
}
