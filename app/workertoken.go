// Worker tokens: what a handed-off worker holds instead of database credentials.

package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/codecheck/codecheck/domain"
)

// WorkerTokens mints and checks worker tokens. A token allows the worker
// operations on one job until it expires: "cwt1.<job id>.<unix
// expiry>.<HMAC-SHA256 of the rest>". It is stateless: any replica holding
// the same secret can check any replica's tokens.
type WorkerTokens struct {
	key []byte
	now func() time.Time
}

// tokenPrefix versions the token format.
const tokenPrefix = "cwt1"

// MinWorkerSecretLen is the shortest secret NewWorkerTokens accepts.
const MinWorkerSecretLen = 32

// NewWorkerTokens returns tokens keyed by secret, reading time from now
// (time.Now when nil). A secret shorter than MinWorkerSecretLen is refused.
func NewWorkerTokens(secret string, now func() time.Time) (*WorkerTokens, error) {
	if len(secret) < MinWorkerSecretLen {
		return nil, fmt.Errorf("the worker secret must be at least %d characters", MinWorkerSecretLen)
	}
	if now == nil {
		now = time.Now
	}
	return &WorkerTokens{key: []byte(secret), now: now}, nil
}

// Mint returns a token for jobID valid for ttl.
func (t *WorkerTokens) Mint(jobID string, ttl time.Duration) string {
	body := tokenPrefix + "." + jobID + "." + strconv.FormatInt(t.now().Add(ttl).Unix(), 10)
	return body + "." + t.sign(body)
}

// Check returns the job id token is for. A malformed, tampered or expired
// token is domain.ErrUnauthenticated; a token for a job other than jobID
// (when jobID is set) is domain.ErrForbidden. Errors never echo the token.
func (t *WorkerTokens) Check(token, jobID string) (string, error) {
	body, sig, ok := cutLast(token, ".")
	parts := strings.Split(body, ".")
	if !ok || len(parts) != 3 || parts[0] != tokenPrefix || parts[1] == "" {
		return "", fmt.Errorf("worker token is malformed: %w", domain.ErrUnauthenticated)
	}
	if !hmac.Equal([]byte(sig), []byte(t.sign(body))) {
		return "", fmt.Errorf("worker token signature does not match: %w", domain.ErrUnauthenticated)
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !t.now().Before(time.Unix(exp, 0)) {
		return "", fmt.Errorf("worker token expired: %w", domain.ErrUnauthenticated)
	}
	if jobID != "" && parts[1] != jobID {
		return "", fmt.Errorf("worker token is for another job: %w", domain.ErrForbidden)
	}
	return parts[1], nil
}

func (t *WorkerTokens) sign(body string) string {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
