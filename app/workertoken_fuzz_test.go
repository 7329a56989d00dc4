package app_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

// fuzzSecret keys the tokens under test; fuzzOtherSecret another replica
// set's tokens.
var (
	fuzzSecret      = strings.Repeat("k", app.MinWorkerSecretLen)
	fuzzOtherSecret = strings.Repeat("o", app.MinWorkerSecretLen)
)

// FuzzWorkerTokenCheck: Check accepts a token only if it is exactly what
// Mint makes with the secret for the job asked about (signature recomputed
// here, independently) and not yet expired; everything else is
// ErrUnauthenticated, or ErrForbidden for another job's valid token. It
// never panics and its errors never carry the token's signature. "@T" in
// the fuzzed token stands for a freshly minted one, so that the fuzzer
// works on tampered real tokens, not only on random text.
func FuzzWorkerTokenCheck(f *testing.F) {
	f.Add("01933b8e-6f3a-7c1e-9a4b-2f6d8e0c1a23", int64(60), "@T", "01933b8e-6f3a-7c1e-9a4b-2f6d8e0c1a23")
	f.Add("job-a", int64(60), "@T", "job-b")
	f.Add("job-a", int64(60), "@T", "")
	f.Add("job-a", int64(0), "@T", "job-a")
	f.Add("job-a", int64(-5), "@T", "job-a")
	f.Add("job.a", int64(60), "@T", "job.a")
	f.Add("", int64(60), "@T", "")
	f.Add("job-a", int64(60), "Bearer @T", "job-a")
	f.Add("job-a", int64(60), "@T.", "job-a")
	f.Add("job-a", int64(60), "@T=", "job-a")
	f.Add("job-a", int64(60), "cwt1.job-a.9999999999.", "job-a")
	f.Add("job-a", int64(60), "cwt1.job-a.+1795000060.AAAA", "job-a")
	f.Add("job-a", int64(60), "cwt1..1.x", "")
	f.Add("job-a", int64(60), "", "")
	f.Add("job-a", int64(60), "cwt1", "job-a")
	f.Add("job-a", int64(60), "\xff.\x00.@T", "job-a")

	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tokens, err := app.NewWorkerTokens(fuzzSecret, clock)
	if err != nil {
		f.Fatal(err)
	}
	others, err := app.NewWorkerTokens(fuzzOtherSecret, clock)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, mintJob string, ttlSeconds int64, token, checkJob string) {
		ttl := time.Duration(ttlSeconds%(400*24*3600)) * time.Second
		minted := tokens.Mint(mintJob, ttl)
		sig := minted[strings.LastIndex(minted, ".")+1:]

		// A freshly minted token works for its job, unless the job id
		// cannot be carried (empty, or with the separator) or the token is
		// born expired.
		usable := mintJob != "" && !strings.Contains(mintJob, ".") && ttl >= time.Second
		id, err := tokens.Check(minted, mintJob)
		switch {
		case usable && (err != nil || id != mintJob):
			t.Fatalf("minted token for %q (ttl %s) refused: %q, %v", mintJob, ttl, id, err)
		case !usable && err == nil:
			t.Fatalf("unusable token for %q (ttl %s) accepted", mintJob, ttl)
		}
		requireTokenError(t, err, sig)

		// Another secret's replicas never accept it.
		_, err = others.Check(minted, mintJob)
		if !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("a token checked with another secret: %v, want ErrUnauthenticated", err)
		}
		requireTokenError(t, err, sig)

		// Any token, tampered or made up.
		token = strings.ReplaceAll(token, "@T", minted)
		id, err = tokens.Check(token, checkJob)
		if err != nil {
			requireTokenError(t, err, sig)
			return
		}
		if checkJob != "" && id != checkJob {
			t.Fatalf("token for %q accepted for job %q", id, checkJob)
		}
		requireMinted(t, token, id, now)
	})
}

// requireMinted fails unless token is "cwt1.<id>.<expiry>.<signature>" with
// the signature made with fuzzSecret and an expiry after now.
func requireMinted(t *testing.T, token, id string, now time.Time) {
	t.Helper()
	prefix := "cwt1." + id + "."
	body, sig, _ := strings.Cut(strings.TrimPrefix(token, prefix), ".")
	if id == "" || !strings.HasPrefix(token, prefix) || strings.Contains(sig, ".") {
		t.Fatalf("accepted token %q for job %q is not in the minted form", token, id)
	}
	mac := hmac.New(sha256.New, []byte(fuzzSecret))
	mac.Write([]byte(prefix + body))
	if want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)); sig != want {
		t.Fatalf("accepted token %q is not signed with the secret", token)
	}
	exp, err := strconv.ParseInt(body, 10, 64)
	if err != nil || !time.Unix(exp, 0).After(now) {
		t.Fatalf("accepted token %q has expiry %q, not after %s", token, body, now)
	}
}

// requireTokenError fails unless err is nil or a classified token error
// that does not carry the signature sig.
func requireTokenError(t *testing.T, err error, sig string) {
	t.Helper()
	if err == nil {
		return
	}
	if !errors.Is(err, domain.ErrUnauthenticated) && !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("unclassified token error %T: %v", err, err)
	}
	if strings.Contains(err.Error(), sig) {
		t.Fatalf("the error %q echoes the token's signature", err)
	}
}
