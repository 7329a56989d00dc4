package main

import (
	"testing"
	"time"
)

func TestPeakInFlight(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	for name, c := range map[string]struct {
		spans [][2]time.Time
		want  int
	}{
		"none":              {nil, 0},
		"overlapping":       {[][2]time.Time{{at(0), at(10)}, {at(5), at(15)}, {at(6), at(7)}}, 3},
		"one after another": {[][2]time.Time{{at(0), at(10)}, {at(10), at(20)}, {at(20), at(30)}}, 1},
		"nested and apart":  {[][2]time.Time{{at(0), at(100)}, {at(10), at(20)}, {at(30), at(40)}, {at(200), at(300)}}, 2},
	} {
		if got := peakInFlight(c.spans); got != c.want {
			t.Errorf("%s: peakInFlight = %d, want %d", name, got, c.want)
		}
	}
}
