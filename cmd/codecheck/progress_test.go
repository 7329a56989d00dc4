package main

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/stretchr/testify/require"

	"github.com/codecheck/codecheck/domain"
)

// Every line of the display fits the terminal at every width, whatever the
// address (wide characters included) and the sections' states.
func TestProgressViewFitsEveryWidth(t *testing.T) {
	start := time.Now().Add(-83 * time.Second)
	s := jobState{Address: "東京都千代田区 1-1, Straße 5, 1600 Pennsylvania Ave NW, Washington, DC 20500", Provider: "perplexity",
		Total: 13, Started: start, Sections: sectionsOf(domain.SectionKeys())}
	for i, status := range []string{"completed", "running", "failed", "canceled", "running"} {
		s = sectionMsg{key: s.Sections[i].Key, status: status, err: "HTTP 503", done: -1, at: start}.apply(s)
	}
	for width := 1; width <= 120; width++ {
		for _, height := range []int{0, 5, 40} {
			lines := view(s, width, height, time.Now(), false)
			if height > 0 {
				require.LessOrEqual(t, len(lines), height, "width %d height %d", width, height)
			}
			for _, l := range lines {
				require.LessOrEqual(t, ansi.StringWidth(l), max(width-1, 1), "width %d: %q", width, l)
			}
		}
	}
	all := strings.Join(view(s, 80, 40, time.Now(), false), "\n")
	require.Contains(t, all, "✓ Jurisdiction and authorities having jurisdiction")
	require.Contains(t, all, "Adopted building codes")
	require.Contains(t, all, "✗ Zoning district and permitted use")
	require.Contains(t, all, "1/13 1m23s", "the timer counts from the start")
}
