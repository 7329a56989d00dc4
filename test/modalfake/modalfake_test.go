package modalfake_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	sdk "github.com/modal-labs/modal-client/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codecheck/codecheck/test/modalfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T) *sdk.Client {
	t.Helper()
	c, err := sdk.NewClient()
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func TestStartPointsTheSDKAtTheFakeOnly(t *testing.T) {
	// The user's ~/.modal.toml must not be read: this one would make
	// NewClient fail to parse it.
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, ".modal.toml"), []byte("[real\ntoken_id = "), 0o600))
	t.Setenv("HOME", home)
	t.Setenv("MODAL_CONFIG_PATH", "")
	t.Setenv("MODAL_TOKEN_ID", "ak-real")
	t.Setenv("MODAL_PROFILE", "real")

	fake := modalfake.Start(t, modalfake.Options{})
	require.Regexp(t, `^http://127\.0\.0\.1:\d+$`, fake.URL())
	require.Equal(t, fake.URL(), os.Getenv("MODAL_SERVER_URL"))
	require.Equal(t, modalfake.DefaultTokenID, os.Getenv("MODAL_TOKEN_ID"))
	require.Empty(t, os.Getenv("MODAL_PROFILE"))
	require.NotEqual(t, home, os.Getenv("HOME"))
	require.Contains(t, fake.Environ(), "MODAL_SERVER_URL="+fake.URL())

	fake.Deploy("app", "fn")
	_, err := newClient(t).Functions.FromName(context.Background(), "app", "fn", nil)
	require.NoError(t, err, "the fake accepts the credentials Start exported")
	require.Equal(t, []string{"AuthTokenGet", "FunctionGet"}, fake.RPCs(), "no handshake beyond the token")
}

func TestSpawnDecodesArgumentsAndRunsOnSpawn(t *testing.T) {
	type run struct {
		callID string
		args   []any
	}
	runs := make(chan run, 1)
	fake := modalfake.Start(t, modalfake.Options{OnSpawn: func(_ context.Context, callID string, args []any) error {
		runs <- run{callID, args}
		return nil
	}})
	fnID := fake.Deploy("app", "fn")
	ctx := context.Background()
	fn, err := newClient(t).Functions.FromName(ctx, "app", "fn", nil)
	require.NoError(t, err)
	require.Equal(t, fnID, fn.FunctionID)

	call, err := fn.Spawn(ctx, []any{"a", "b", int64(3)}, map[string]any{"k": "v"})
	require.NoError(t, err)
	r := <-runs
	require.Equal(t, call.FunctionCallID, r.callID)
	require.Equal(t, []any{"a", "b", uint64(3)}, r.args, "CBOR decodes non-negative integers as uint64")
	require.Equal(t, []modalfake.Spawn{{CallID: call.FunctionCallID, FunctionID: fnID, App: "app", Function: "fn",
		Args: []any{"a", "b", uint64(3)}, Kwargs: map[string]any{"k": "v"}}}, fake.Spawns())
}

func TestOutputsReportSuccessFailureAndCancel(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{OnSpawn: func(ctx context.Context, _ string, args []any) error {
		switch args[0] {
		case "fail":
			return errors.New("boom")
		case "block":
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}})
	fake.Deploy("app", "fn")
	ctx := context.Background()
	client := newClient(t)
	fn, err := client.Functions.FromName(ctx, "app", "fn", nil)
	require.NoError(t, err)
	timeout := 5 * time.Second
	get := func(call *sdk.FunctionCall) error {
		_, err := call.Get(ctx, &sdk.FunctionCallGetParams{Timeout: &timeout})
		return err
	}

	ok, err := fn.Spawn(ctx, []any{"ok"}, nil)
	require.NoError(t, err)
	require.NoError(t, get(ok))

	failed, err := fn.Spawn(ctx, []any{"fail"}, nil)
	require.NoError(t, err)
	var remote sdk.RemoteError
	require.ErrorAs(t, get(failed), &remote)
	require.Contains(t, remote.Exception, "boom")

	blocked, err := fn.Spawn(ctx, []any{"block"}, nil)
	require.NoError(t, err)
	byID, err := client.FunctionCalls.FromID(ctx, blocked.FunctionCallID, nil)
	require.NoError(t, err)
	require.NoError(t, byID.Cancel(ctx, nil))
	require.ErrorAs(t, get(blocked), &remote)
	require.Equal(t, []string{blocked.FunctionCallID}, fake.Cancels())
}

func TestUnknownCallsAndFunctionsAreNotFound(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	ctx := context.Background()
	client := newClient(t)

	_, err := client.Functions.FromName(ctx, "app", "fn", nil)
	var notFound sdk.NotFoundError
	require.ErrorAs(t, err, &notFound)

	_, err = client.FunctionCalls.FromID(ctx, "fc-nope", nil)
	require.Equal(t, codes.NotFound, status.Code(err))

	fake.Deploy("app", "fn")
	fn, err := client.Functions.FromName(ctx, "app", "fn", nil)
	require.NoError(t, err)
	fake.Undeploy("app", "fn")
	_, err = fn.Spawn(ctx, nil, nil)
	require.Equal(t, codes.NotFound, status.Code(err), "a stale function id")
}

func TestDeployIDs(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	first := fake.Deploy("app", "fn")
	require.Equal(t, first, fake.Deploy("app", "fn"), "deploying again keeps the id")
	fake.Undeploy("app", "fn")
	require.NotEqual(t, first, fake.Deploy("app", "fn"), "a redeploy after undeploy gets a new id")
	require.NotEqual(t, fake.Deploy("app", "fn"), fake.DeployIn("staging", "app", "fn"))
}

func TestFailNextCountsArrivals(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy("app", "fn")
	ctx := context.Background()
	client := newClient(t)

	fake.FailNext("FunctionGet", 1, codes.InvalidArgument) // not retried by the SDK
	_, err := client.Functions.FromName(ctx, "app", "fn", nil)
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = client.Functions.FromName(ctx, "app", "fn", nil)
	require.NoError(t, err)
	require.Equal(t, 2, fake.Calls("FunctionGet"))
}

func TestRejectAuth(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy("app", "fn")
	fake.RejectAuth(true)
	_, err := newClient(t).Functions.FromName(context.Background(), "app", "fn", nil)
	require.Equal(t, codes.Unauthenticated, status.Code(err))

	fake.RejectAuth(false)
	t.Setenv("MODAL_TOKEN_SECRET", "as-wrong")
	_, err = newClient(t).Functions.FromName(context.Background(), "app", "fn", nil)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "credentials are checked")
}

func TestStopWaitsForRunningCalls(t *testing.T) {
	returned := make(chan struct{})
	t.Run("inner", func(t *testing.T) {
		started := make(chan struct{})
		fake := modalfake.Start(t, modalfake.Options{OnSpawn: func(ctx context.Context, _ string, _ []any) error {
			close(started)
			defer close(returned)
			<-ctx.Done() // only the server stopping ends this call
			return ctx.Err()
		}})
		fake.Deploy("app", "fn")
		fn, err := newClient(t).Functions.FromName(context.Background(), "app", "fn", nil)
		require.NoError(t, err)
		_, err = fn.Spawn(context.Background(), nil, nil)
		require.NoError(t, err)
		<-started
	})
	select {
	case <-returned:
	default:
		t.Fatal("the server stopped before its OnSpawn goroutine returned")
	}
}
