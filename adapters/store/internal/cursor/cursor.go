// Package cursor encodes the opaque list cursor shared by the store adapters:
// the (created_at, id) of the last job on a page, which is where the next page
// starts in the list's newest-first order.
package cursor

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// Encode returns the cursor that continues after the job created at
// createdAt with id.
func Encode(createdAt time.Time, id string) string {
	raw := strconv.FormatInt(createdAt.UnixMicro(), 10) + ":" + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// Decode parses a cursor made by Encode. A malformed cursor is an error
// wrapping domain.ErrInvalid.
func Decode(c string) (createdAt time.Time, id string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", invalid()
	}
	micros, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return time.Time{}, "", invalid()
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, "", invalid()
	}
	return time.UnixMicro(n).UTC(), id, nil
}

func invalid() error {
	return domain.Invalid("cursor", "is not a cursor returned by a previous page")
}
