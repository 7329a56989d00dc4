package modal_test

import (
	"context"
	"testing"
	"time"

	sdk "github.com/modal-labs/modal-client/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codecheck/codecheck/adapters/executor/modal"
	"github.com/codecheck/codecheck/domain"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/executortest"
	"github.com/codecheck/codecheck/test/modalfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// These tests drive the real SDK (v0.11.1) over gRPC against modalfake.

func TestContract(t *testing.T) {
	executortest.Exercise(t, func(t *testing.T, runner ports.JobRunner) ports.Executor {
		fake := modalfake.Start(t, modalfake.Options{
			OnSpawn: func(ctx context.Context, _ string, args []any) error {
				return runner.RunJob(ctx, args[0].(string))
			},
		})
		fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
		return newExecutor(t, modal.Config{})
	})
}

func newExecutor(t *testing.T, cfg modal.Config) *modal.Executor {
	t.Helper()
	ex, err := modal.New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(ex.Close)
	return ex
}

func testJob(id string) domain.Job {
	return domain.Job{ID: id, Address: "1 Test Street, Springfield", Provider: "perplexity", Status: domain.JobPending, Attempt: 1}
}

// executorError asserts err is a modal *ports.ExecutorError and returns it.
func executorError(t *testing.T, err error) *ports.ExecutorError {
	t.Helper()
	var ee *ports.ExecutorError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, "modal", ee.Executor)
	return ee
}

func TestSubmitSpawnsTheJobAndReturnsTheCallID(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fnID := fake.Deploy("code-check-worker", "process_research_job")
	ex := newExecutor(t, modal.Config{})
	require.Equal(t, "modal", ex.Name())

	ref, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1"), Token: "cwt1.job-1.99.sig"})
	require.NoError(t, err)

	spawns := fake.Spawns()
	require.Len(t, spawns, 1)
	require.Equal(t, ref, spawns[0].CallID)
	require.Equal(t, fnID, spawns[0].FunctionID)
	require.Equal(t, []any{"job-1", "1 Test Street, Springfield", "perplexity", "cwt1.job-1.99.sig"}, spawns[0].Args,
		"spawn arguments are [job_id, address, llm_provider, worker_token]")
	require.Empty(t, spawns[0].Kwargs)

	_, err = ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-2")})
	require.NoError(t, err)
	require.Equal(t, 1, fake.Calls("FunctionGet"), "the function lookup is cached")
	require.Equal(t, 2, fake.Calls("FunctionMap"))
}

func TestSpawnedCallRunsAndItsOutputIsReadable(t *testing.T) {
	ran := make(chan []any, 1)
	fake := modalfake.Start(t, modalfake.Options{OnSpawn: func(_ context.Context, _ string, args []any) error {
		ran <- args
		return nil
	}})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	ex := newExecutor(t, modal.Config{})

	ref, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	require.NoError(t, err)
	require.Equal(t, "job-1", (<-ran)[0])

	// The SDK can read the call's outcome back through the fake.
	client, err := sdk.NewClient()
	require.NoError(t, err)
	defer client.Close()
	call, err := client.FunctionCalls.FromID(context.Background(), ref, nil)
	require.NoError(t, err)
	timeout := 5 * time.Second
	out, err := call.Get(context.Background(), &sdk.FunctionCallGetParams{Timeout: &timeout})
	require.NoError(t, err)
	require.Nil(t, out)
}

func TestCancelReachesFunctionCallCancel(t *testing.T) {
	started, stopped := make(chan struct{}), make(chan struct{})
	fake := modalfake.Start(t, modalfake.Options{OnSpawn: func(ctx context.Context, _ string, _ []any) error {
		close(started)
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	}})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	ex := newExecutor(t, modal.Config{})

	job := testJob("job-1")
	ref, err := ex.Submit(context.Background(), ports.Handoff{Job: job})
	require.NoError(t, err)
	<-started
	job.ExecutorRef = ref
	require.NoError(t, ex.Cancel(context.Background(), job))
	require.Equal(t, []string{ref}, fake.Cancels())
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the spawned call was not canceled")
	}
}

func TestCancelWithoutOrWithUnknownCallIsNoError(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	ex := newExecutor(t, modal.Config{})

	require.NoError(t, ex.Cancel(context.Background(), testJob("job-1")))
	require.Empty(t, fake.RPCs(), "no ref: nothing to ask Modal")

	job := testJob("job-2")
	job.ExecutorRef = "fc-unknown"
	require.NoError(t, ex.Cancel(context.Background(), job))
	require.Equal(t, 1, fake.Calls("FunctionCallFromId"))
}

func TestMissingFunctionIsPermanentAndSaysHowToFixIt(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy("code-check-worker", "some_other_function")
	ex := newExecutor(t, modal.Config{})

	_, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	ee := executorError(t, err)
	require.False(t, ee.Retryable)
	for _, want := range []string{"code-check-worker/process_research_job", "modal deploy deploy/modal/modal_worker.py", "CODECHECK_MODAL_APP", "CODECHECK_MODAL_FUNCTION"} {
		require.Contains(t, err.Error(), want)
	}
	var notFound sdk.NotFoundError
	require.ErrorAs(t, err, &notFound, "the SDK error stays reachable")
	require.Empty(t, fake.Spawns())

	require.Error(t, ex.CheckDeployed(context.Background()))
}

func TestConfigNamesAppFunctionAndEnvironment(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fnID := fake.DeployIn("staging", "my-app", "my_fn")

	ex := newExecutor(t, modal.Config{App: "my-app", Function: "my_fn", Environment: "staging"})
	require.NoError(t, ex.CheckDeployed(context.Background()))
	_, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	require.NoError(t, err)
	require.Equal(t, fnID, fake.Spawns()[0].FunctionID)

	other := newExecutor(t, modal.Config{App: "my-app", Function: "my_fn"})
	err = other.CheckDeployed(context.Background())
	require.False(t, executorError(t, err).Retryable, "not deployed in the default environment")
}

func TestRedeployRefreshesTheCachedFunction(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	oldID := fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	ex := newExecutor(t, modal.Config{})
	_, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	require.NoError(t, err)

	fake.Undeploy(modal.DefaultApp, modal.DefaultFunction)
	newID := fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	require.NotEqual(t, oldID, newID)

	ref, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-2")})
	require.NoError(t, err)
	last := fake.Spawns()[len(fake.Spawns())-1]
	require.Equal(t, ref, last.CallID)
	require.Equal(t, newID, last.FunctionID)
	require.Equal(t, 2, fake.Calls("FunctionGet"))

	// And the new id is cached in turn.
	_, err = ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-3")})
	require.NoError(t, err)
	require.Equal(t, 2, fake.Calls("FunctionGet"))
}

func TestUndeployedFunctionIsPermanentAfterOneMoreLookup(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	ex := newExecutor(t, modal.Config{})
	_, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	require.NoError(t, err)

	fake.Undeploy(modal.DefaultApp, modal.DefaultFunction)
	_, err = ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-2")})
	require.False(t, executorError(t, err).Retryable)
	require.Contains(t, err.Error(), "modal deploy deploy/modal/modal_worker.py")
	require.Equal(t, 2, fake.Calls("FunctionGet"), "one lookup more, not a loop")
}

func TestTransientFailuresAreRetryable(t *testing.T) {
	for _, tc := range []struct {
		code codes.Code
		n    int // the SDK retries Unavailable itself: four failures reach us
	}{
		{codes.Unavailable, 4},
		{codes.ResourceExhausted, 1},
		{codes.DeadlineExceeded, 4},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			fake := modalfake.Start(t, modalfake.Options{})
			fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
			ex := newExecutor(t, modal.Config{})
			require.NoError(t, ex.CheckDeployed(context.Background()))

			fake.FailNext("FunctionMap", tc.n, tc.code)
			_, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
			require.True(t, executorError(t, err).Retryable, "%v", err)
			require.Empty(t, fake.Spawns())

			_, err = ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
			require.NoError(t, err, "the outage is over")
		})
	}
}

func TestBriefOutageIsRetriedBySDK(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	ex := newExecutor(t, modal.Config{})

	fake.FailNext("FunctionMap", 2, codes.Unavailable)
	_, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	require.NoError(t, err)
	require.Equal(t, 3, fake.Calls("FunctionMap"))
	require.Len(t, fake.Spawns(), 1)
}

func TestRejectedCredentialsArePermanentAndNameTheVariables(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	fake.RejectAuth(true)
	ex := newExecutor(t, modal.Config{})

	_, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	require.False(t, executorError(t, err).Retryable)
	require.Contains(t, err.Error(), "MODAL_TOKEN_ID")
	require.Contains(t, err.Error(), "MODAL_TOKEN_SECRET")
	require.NotContains(t, err.Error(), modalfake.DefaultTokenSecret)
}

func TestWrongSecretIsPermanentAndNotQuoted(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	const wrong = "as-wrong-secret-7f3a9c"
	t.Setenv("MODAL_TOKEN_SECRET", wrong)
	ex := newExecutor(t, modal.Config{})

	_, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	require.False(t, executorError(t, err).Retryable)
	require.Contains(t, err.Error(), "MODAL_TOKEN_SECRET")
	require.NotContains(t, err.Error(), wrong)
	require.Equal(t, 0, fake.Calls("FunctionMap"))
}

func TestNoCredentialsIsPermanent(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	t.Setenv("MODAL_TOKEN_ID", "")
	t.Setenv("MODAL_TOKEN_SECRET", "")
	ex := newExecutor(t, modal.Config{})

	_, err := ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	require.False(t, executorError(t, err).Retryable)
	require.Contains(t, err.Error(), "MODAL_TOKEN_ID")
}

func TestUnreachableServerIsRetryable(t *testing.T) {
	modalfake.Start(t, modalfake.Options{})
	t.Setenv("MODAL_SERVER_URL", "http://127.0.0.1:1") // nothing listens on port 1
	ex := newExecutor(t, modal.Config{})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := ex.Submit(ctx, ports.Handoff{Job: testJob("job-1")})
	require.True(t, executorError(t, err).Retryable, "%v", err)
}

func TestCanceledContextStopsSubmit(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	ex := newExecutor(t, modal.Config{})
	// Warm up first: with no auth token yet, the SDK would fetch one in a
	// goroutine detached from ctx that outlives the test (and goleak).
	require.NoError(t, ex.CheckDeployed(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ex.Submit(ctx, ports.Handoff{Job: testJob("job-1")})
	require.True(t, executorError(t, err).Retryable, "%v", err)
	require.Equal(t, codes.Canceled, status.Code(err))
	require.Empty(t, fake.Spawns())
}

func TestGivenClientIsUsedAndLeftOpen(t *testing.T) {
	fake := modalfake.Start(t, modalfake.Options{})
	fake.Deploy(modal.DefaultApp, modal.DefaultFunction)
	client, err := sdk.NewClient()
	require.NoError(t, err)
	defer client.Close()

	ex, err := modal.New(context.Background(), modal.Config{Client: client})
	require.NoError(t, err)
	_, err = ex.Submit(context.Background(), ports.Handoff{Job: testJob("job-1")})
	require.NoError(t, err)
	ex.Close()

	_, err = client.Functions.FromName(context.Background(), modal.DefaultApp, modal.DefaultFunction, nil)
	require.NoError(t, err, "the executor must not close a client it was given")
}

func TestNewRefusesABadServerURL(t *testing.T) {
	modalfake.Start(t, modalfake.Options{})
	t.Setenv("MODAL_SERVER_URL", "grpc://nowhere")
	_, err := modal.New(context.Background(), modal.Config{})
	require.False(t, executorError(t, err).Retryable)
	require.Contains(t, err.Error(), "MODAL_SERVER_URL")
}

func TestCheckEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string { return kv[k] }
	}
	require.NoError(t, modal.CheckEnv(env(map[string]string{"MODAL_TOKEN_ID": "ak-1", "MODAL_TOKEN_SECRET": "as-1"})))

	err := modal.CheckEnv(env(map[string]string{"MODAL_TOKEN_SECRET": "as-secret-value"}))
	require.ErrorContains(t, err, "MODAL_TOKEN_ID")
	require.NotContains(t, err.Error(), "MODAL_TOKEN_SECRET")
	require.NotContains(t, err.Error(), "as-secret-value")

	err = modal.CheckEnv(env(map[string]string{"MODAL_TOKEN_ID": "ak-1"}))
	require.ErrorContains(t, err, "MODAL_TOKEN_SECRET")

	err = modal.CheckEnv(env(nil))
	require.ErrorContains(t, err, "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET")

	err = modal.CheckEnv(env(map[string]string{"MODAL_TOKEN_ID": "ak-1", "MODAL_TOKEN_SECRET": "as-1", "MODAL_SERVER_URL": "api.modal.com:443"}))
	require.ErrorContains(t, err, "MODAL_SERVER_URL")
}
