package fake_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/codecheck/codecheck/adapters/executor/fake"
	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/executortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestContract(t *testing.T) {
	executortest.Exercise(t, func(t *testing.T, runner ports.JobRunner) ports.Executor {
		e := fake.New(runner)
		t.Cleanup(e.Close)
		return e
	})
}
