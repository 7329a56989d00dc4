package webhook

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

// These tests check deliveries with the Standard Webhooks project's own Go
// library (github.com/standard-webhooks/standard-webhooks/libraries), the
// verifier receivers use, rather than with this package's Sign.

func whsec(key string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(key)) }

// deliverOne sends one delivery signed with secrets, its timestamp from now,
// and returns what the receiver got.
func deliverOne(t *testing.T, secrets string, now func() time.Time) received {
	t.Helper()
	store := openStore(t, "", nil)
	rc := newReceiver(t, nil)
	s, err := New(secrets, rc.Client(), store, store, store, Options{Logger: quiet, Now: now})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Close(ctx))
	})
	endJob(t, store, rc.URL, domain.JobCompleted)
	flush(t, s)
	require.Len(t, rc.calls(), 1)
	return rc.calls()[0]
}

func verifier(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	return wh
}

func TestStandardWebhooksVerifiesADelivery(t *testing.T) {
	secret := whsec("a-32-byte-signing-key-for-tests!")
	r := deliverOne(t, secret, time.Now)
	require.NoError(t, verifier(t, secret).Verify(r.body, r.header))

	other := verifier(t, whsec("another-key-that-signed-nothing"))
	require.ErrorIs(t, other.Verify(r.body, r.header), standardwebhooks.ErrNoMatchingSignature)
	tampered := append([]byte(nil), r.body...)
	tampered[len(tampered)-2] ^= 1
	require.ErrorIs(t, verifier(t, secret).Verify(tampered, r.header), standardwebhooks.ErrNoMatchingSignature)
}

// A raw (not whsec_) secret is the key's bytes: the library's NewWebhookRaw.
func TestStandardWebhooksVerifiesARawSecret(t *testing.T) {
	r := deliverOne(t, secret, time.Now)
	wh, err := standardwebhooks.NewWebhookRaw([]byte(secret))
	require.NoError(t, err)
	require.NoError(t, wh.Verify(r.body, r.header))
}

// Rotation: with two secrets configured each delivery carries two
// signatures in its one webhook-signature header, and a receiver holding
// either secret verifies it.
func TestStandardWebhooksRotation(t *testing.T) {
	old, next := whsec("the-old-key-receivers-still-use"), whsec("the-new-key-receivers-move-to!!")
	r := deliverOne(t, old+", "+next, time.Now)
	sigs := strings.Fields(r.header.Get("webhook-signature"))
	require.Len(t, sigs, 2, "one header, two space-separated signatures")
	for _, sig := range sigs {
		require.True(t, strings.HasPrefix(sig, "v1,"), sig)
	}
	require.Len(t, r.header.Values("webhook-signature"), 1)

	require.NoError(t, verifier(t, old).Verify(r.body, r.header), "a receiver on the old secret")
	require.NoError(t, verifier(t, next).Verify(r.body, r.header), "a receiver on the new secret")
	require.ErrorIs(t, verifier(t, whsec("a-third-key-never-configured")).Verify(r.body, r.header),
		standardwebhooks.ErrNoMatchingSignature)
}

// A delivery whose timestamp is outside the library's tolerance (5
// minutes), as a replay of an old delivery is, is rejected even though its
// signature is good; within it, it passes.
func TestStandardWebhooksRejectsATimestampOutsideTheTolerance(t *testing.T) {
	secret := whsec("a-32-byte-signing-key-for-tests!")
	for _, tc := range []struct {
		skew time.Duration
		want error
	}{
		{-6 * time.Minute, standardwebhooks.ErrMessageTooOld},
		{6 * time.Minute, standardwebhooks.ErrMessageTooNew},
		{-4 * time.Minute, nil},
	} {
		r := deliverOne(t, secret, func() time.Time { return time.Now().Add(tc.skew) })
		wh := verifier(t, secret)
		require.NoError(t, wh.VerifyIgnoringTimestamp(r.body, r.header), "the signature itself is good")
		if tc.want == nil {
			require.NoError(t, wh.Verify(r.body, r.header), "skew %s", tc.skew)
		} else {
			require.ErrorIs(t, wh.Verify(r.body, r.header), tc.want, "skew %s", tc.skew)
		}
	}
}

func TestNewRefusesABadSecretInTheList(t *testing.T) {
	store := openStore(t, "", nil)
	for _, list := range []string{"whsec_" + "not base64!", secret + ",", secret + ",,x", " , "} {
		_, err := New(list, nil, store, store, store, Options{Logger: quiet})
		require.ErrorContains(t, err, "CODECHECK_WEBHOOK_SECRET", list)
		require.NotContains(t, err.Error(), secret, "errors never carry a secret")
	}
	_, err := New(secret+", whsec_"+base64.StdEncoding.EncodeToString([]byte("k2")), nil, store, store, store,
		Options{Logger: quiet})
	require.NoError(t, err)
}
