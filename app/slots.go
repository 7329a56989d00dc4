// A provider's slots: calls in flight in this process, taken in turn, and
// sections admitted only when a slot is free.

package app

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
)

// slotPool holds a provider's n slots for calls in flight in this process.
// Whoever asks when none is free waits in line, first come first served:
// a call blocked in acquire, or a section that admit starts once a slot
// comes to it, so that a section waiting for the provider holds no
// goroutine.
type slotPool struct {
	mu   sync.Mutex
	free int
	line list.List // of *slotWaiter
}

// slotWaiter is one turn in the line: grant is called, outside the lock,
// with the slot taken for it.
type slotWaiter struct {
	grant  func()
	queued bool // still in line; guarded by slotPool.mu
}

func newSlotPool(n int) *slotPool { return &slotPool{free: n} }

// take takes a free slot, or puts w in line and returns false.
func (p *slotPool) take(w *slotWaiter) (*list.Element, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free > 0 {
		p.free--
		return nil, true
	}
	w.queued = true
	return p.line.PushBack(w), false
}

// leave takes e out of the line, and reports whether it was still in it
// (not granted a slot yet).
func (p *slotPool) leave(e *list.Element) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := e.Value.(*slotWaiter)
	if !w.queued {
		return false
	}
	w.queued = false
	p.line.Remove(e)
	return true
}

// release gives a slot back: to the first in line, or to the free ones.
func (p *slotPool) release() {
	p.mu.Lock()
	e := p.line.Front()
	if e == nil {
		p.free++
		p.mu.Unlock()
		return
	}
	w := e.Value.(*slotWaiter)
	w.queued = false
	p.line.Remove(e)
	p.mu.Unlock()
	w.grant()
}

// acquire waits for a slot until ctx is done.
func (p *slotPool) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	granted := make(chan struct{})
	e, ok := p.take(&slotWaiter{grant: func() { close(granted) }})
	if ok {
		return nil
	}
	select {
	case <-granted:
		return nil
	case <-ctx.Done():
		if !p.leave(e) { // granted meanwhile: the slot is ours to give back
			p.release()
		}
		return ctx.Err()
	}
}

// admit calls start, exactly once, with a slot held for it (a heldSlot in
// the context it is given) as soon as one is free: at once, or later from
// the goroutine that gives a slot back. start must not block: it starts
// the goroutine that does the work. If ctx is done first, start is called
// without a slot.
func (p *slotPool) admit(ctx context.Context, l *limited, start func(context.Context)) {
	// Whether or not ctx ended meanwhile, a slot that came is started with;
	// the watch on ctx below then finds the waiter out of line.
	e, ok := p.take(&slotWaiter{grant: func() { start(withHeldSlot(ctx, l)) }})
	if ok {
		start(withHeldSlot(ctx, l))
		return
	}
	context.AfterFunc(ctx, func() {
		if p.leave(e) {
			start(ctx)
		}
	})
}

// heldSlot is a slot a section was admitted with: its first call to the
// provider goes with it (limited.Research), and it is given back after that
// call, or when the section ends without one.
type heldSlot struct {
	l        *limited
	used     atomic.Bool
	released sync.Once
}

type heldSlotKey struct{}

func withHeldSlot(ctx context.Context, l *limited) context.Context {
	return context.WithValue(ctx, heldSlotKey{}, &heldSlot{l: l})
}

// withoutHeldSlot is ctx without the slot it may hold: for work of its own.
func withoutHeldSlot(ctx context.Context) context.Context {
	if heldSlotFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, heldSlotKey{}, (*heldSlot)(nil))
}

func heldSlotFrom(ctx context.Context) *heldSlot {
	h, _ := ctx.Value(heldSlotKey{}).(*heldSlot)
	return h
}

// use claims the slot for a call of l: true once, for the first call of
// the provider it was taken from.
func (h *heldSlot) use(l *limited) bool { return h.l == l && h.used.CompareAndSwap(false, true) }

// release gives the slot back, once.
func (h *heldSlot) release() { h.released.Do(h.l.slots.release) }

// releaseHeldSlot gives back the slot ctx holds, if any, once: for a
// section that ends, or calls another provider, without using it.
func releaseHeldSlot(ctx context.Context) {
	if h := heldSlotFrom(ctx); h != nil {
		h.release()
	}
}
