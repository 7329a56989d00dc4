package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

// progressDisplay shows a running check: on a terminal, a progress bar with
// the sections being researched; otherwise one line per finished section.
type progressDisplay struct {
	w   io.Writer
	tty bool

	mu      sync.Mutex
	active  bool
	total   int
	done    int
	running []string
	started time.Time
}

func newProgressDisplay(w io.Writer) *progressDisplay {
	return &progressDisplay{w: w, tty: isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (d *progressDisplay) hooks() app.Hooks {
	return app.Hooks{
		SectionStarted: func(_ domain.Job, key string) {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.running = append(d.running, key)
			d.draw()
		},
		SectionDone: func(_ domain.Job, s domain.SectionResult) {
			d.mu.Lock()
			defer d.mu.Unlock()
			if i := slices.Index(d.running, s.Key); i >= 0 {
				d.running = slices.Delete(d.running, i, i+1)
			}
			if s.Status == domain.SectionCompleted {
				d.done++
			}
			if !d.active {
				return
			}
			if d.tty {
				d.draw()
				return
			}
			line := fmt.Sprintf("[%d/%d] %s: %s (%.1fs)", d.done, d.total, s.Key, s.Status, float64(s.LatencyMS)/1000)
			if s.Error != "" {
				line += ": " + s.Error
			}
			fmt.Fprintln(d.w, line)
		},
	}
}

func (d *progressDisplay) start(job domain.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active, d.total, d.done, d.started = true, len(job.Sections), job.Done, time.Now()
	if !d.tty {
		fmt.Fprintf(d.w, "researching %d sections for %s with %s\n", d.total, job.Address, job.Provider)
	}
	d.draw()
}

func (d *progressDisplay) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.active && d.tty {
		d.draw()
		fmt.Fprintln(d.w)
	}
	d.active = false
}

// draw repaints the bar; callers hold mu.
func (d *progressDisplay) draw() {
	if !d.active || !d.tty || d.total == 0 {
		return
	}
	const width = 26
	filled := width * d.done / d.total
	doing := strings.Join(d.running, ", ")
	if len(doing) > 48 {
		doing = doing[:47] + "…"
	}
	if doing != "" {
		doing = "researching " + doing
	}
	fmt.Fprintf(d.w, "\r\033[K[%s%s] %d/%d %5.1fs %s", strings.Repeat("█", filled), strings.Repeat("░", width-filled),
		d.done, d.total, time.Since(d.started).Seconds(), doing)
}
