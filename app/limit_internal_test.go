package app

import (
	"testing"

	"github.com/codecheck/codecheck/ports"
	"github.com/codecheck/codecheck/test/contract/storetest"
)

// A process's own budget keeps the same contract as the store's.
func TestLocalBudgetContract(t *testing.T) {
	storetest.ExerciseBudget(t, func(*testing.T) (ports.ProviderBudget, *storetest.FakeClock) {
		clock := storetest.NewFakeClock(storetest.Start)
		return newLocalBudget(clock.Now), clock
	})
}
