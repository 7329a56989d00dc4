// The opaque list cursor: the (created_at, id) of the last job on a page,
// which is where the next page starts in the list's newest-first order.

package core

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// encodeCursor returns the cursor that continues after the job created at
// createdAt with id.
func encodeCursor(createdAt time.Time, id string) string {
	raw := strconv.FormatInt(createdAt.UnixMicro(), 10) + ":" + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor parses a cursor made by encodeCursor. A malformed cursor is an error
// wrapping domain.ErrInvalid.
func decodeCursor(c string) (createdAt time.Time, id string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", invalidCursor()
	}
	micros, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return time.Time{}, "", invalidCursor()
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, "", invalidCursor()
	}
	return time.UnixMicro(n).UTC(), id, nil
}

func invalidCursor() error {
	return domain.Invalid("cursor", "is not a cursor returned by a previous page")
}
