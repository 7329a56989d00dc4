package ports_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/ports"
)

// The interval is never shorter than the rate allows, and whole
// microseconds, so that a stored schedule reads back as computed.
func TestRateInterval(t *testing.T) {
	for rpm, want := range map[int]time.Duration{
		60:      time.Second,
		7:       8571429 * time.Microsecond, // 8.5714285...s, rounded up
		120:     500 * time.Millisecond,
		100000:  600 * time.Microsecond,
		7000000: 9 * time.Microsecond, // 8.57µs
	} {
		got := ports.Rate{PerMinute: rpm, Burst: 1}.Interval()
		require.Equal(t, want, got, "rpm %d", rpm)
		require.GreaterOrEqual(t, time.Duration(rpm)*got, time.Minute, "rpm %d", rpm)
	}
}

// Callers asking faster than the rate get the burst, then one call an
// interval: 32 in the first 20 s at 60 a minute with a burst of 13, within
// the 20 + 13 that a token bucket allows over any 20 s.
func TestRateScheduleHoldsOverAMinute(t *testing.T) {
	r := ports.Rate{PerMinute: 60, Burst: 13}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var full time.Time
	var ats []time.Time
	for i := range 200 {
		now := start.Add(time.Duration(i) * 100 * time.Millisecond) // ten asks a second
		var at time.Time
		at, full = r.Schedule(now, full, time.Time{})
		require.False(t, at.Before(now))
		ats = append(ats, at)
	}
	inFirst := 0
	for _, at := range ats {
		if at.Before(start.Add(20 * time.Second)) {
			inFirst++
		}
	}
	require.Equal(t, 13+19, inFirst, "the burst, then one a second from 1s on")
}
