package app

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// free reads the pool's free slots and the length of its line.
func (p *slotPool) state() (free, waiting int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.free, p.line.Len()
}

// Sections admitted and calls acquiring share one line, first come first
// served, and an admitted section's start holds the slot it came with.
func TestSlotPoolServesItsLineInTurn(t *testing.T) {
	l := &limited{slots: newSlotPool(1)}
	p := l.slots
	require.NoError(t, p.acquire(t.Context())) // the only slot

	var mu sync.Mutex
	var order []string
	held := map[string]*heldSlot{}
	started := func(name string) func(context.Context) {
		return func(ctx context.Context) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			held[name] = heldSlotFrom(ctx)
		}
	}
	p.admit(t.Context(), l, started("a"))
	acquired := make(chan struct{})
	go func() {
		if p.acquire(context.Background()) == nil {
			close(acquired)
		}
	}()
	require.Eventually(t, func() bool { _, n := p.state(); return n == 2 }, 5*time.Second, time.Millisecond,
		"the call waits behind the admitted section")
	p.admit(t.Context(), l, started("c"))
	require.Empty(t, order, "nothing starts while the slot is taken")

	p.release()
	require.Equal(t, []string{"a"}, order, "the slot goes to the first in line")
	require.NotNil(t, held["a"])
	require.True(t, held["a"].use(l), "a's first call goes with its slot")
	held["a"].release()
	<-acquired
	require.Equal(t, []string{"a"}, order, "then to the call waiting in line")
	p.release()
	require.Equal(t, []string{"a", "c"}, order)
	held["c"].release()
	held["c"].release() // twice is once
	free, waiting := p.state()
	require.Equal(t, 1, free)
	require.Zero(t, waiting)
}

// A section whose job ends while it waits in line starts without a slot
// (to see that it is done), and the line forgets it.
func TestSlotPoolAdmitEndsWithItsContext(t *testing.T) {
	l := &limited{slots: newSlotPool(1)}
	p := l.slots
	require.NoError(t, p.acquire(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan *heldSlot, 2)
	p.admit(ctx, l, func(ctx context.Context) { got <- heldSlotFrom(ctx) })
	cancel()
	require.Nil(t, <-got, "started without a slot")
	p.release()
	free, waiting := p.state()
	require.Equal(t, 1, free, "the slot was not given to the section that left")
	require.Zero(t, waiting)
	require.Empty(t, got, "started once")
}

// A call that gives up waiting leaves the line, and a slot granted as it
// gave up goes back.
func TestSlotPoolAcquireEndsWithItsContext(t *testing.T) {
	p := newSlotPool(1)
	require.NoError(t, p.acquire(t.Context()))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.acquire(ctx), context.DeadlineExceeded)
	p.release()
	free, waiting := p.state()
	require.Equal(t, 1, free)
	require.Zero(t, waiting)
}

// However admissions, calls, releases and ends interleave, every slot
// comes back and every admitted section starts once.
func TestSlotPoolLosesNoSlot(t *testing.T) {
	const slots, workers, rounds = 3, 16, 200
	l := &limited{slots: newSlotPool(slots)}
	p := l.slots
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				ctx, cancel := context.WithCancel(context.Background())
				if rng.IntN(3) == 0 {
					cancel() // some give up at once
				}
				if w%2 == 0 {
					if p.acquire(ctx) == nil {
						p.release()
					}
				} else {
					done := make(chan struct{})
					var starts int
					p.admit(ctx, l, func(ctx context.Context) {
						starts++
						go func() {
							defer close(done)
							if h := heldSlotFrom(ctx); h != nil && h.use(l) {
								h.release()
							}
						}()
					})
					if rng.IntN(2) == 0 {
						cancel()
					}
					<-done
					if starts != 1 {
						t.Errorf("admitted section started %d times", starts)
					}
				}
				cancel()
			}
		})
	}
	wg.Wait()
	free, waiting := p.state()
	require.Equal(t, slots, free, "every slot came back")
	require.Zero(t, waiting)
}
