package cursor_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/adapters/store/internal/cursor"
	"github.com/codecheck/codecheck/domain"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	at2, id, err := cursor.Decode(cursor.Encode(at, "0199-abc:def"))
	require.NoError(t, err)
	require.True(t, at.Equal(at2))
	require.Equal(t, "0199-abc:def", id)
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, c := range []string{"", "!!", "bm8tY29sb24", "eDox", "MTIzOg"} { // "", bad base64, "no-colon", "x:1", "123:"
		_, _, err := cursor.Decode(c)
		require.ErrorIs(t, err, domain.ErrInvalid, c)
	}
}
