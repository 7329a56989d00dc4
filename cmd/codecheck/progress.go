package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

// The progress display of check, work and watch, on standard error. On a
// terminal it is an mpb container redrawn ten times a second: the address,
// a bar with the count and a ticking timer, and every section by title with
// a spinner while it runs; each line is cut to the terminal's width, so
// nothing ever wraps. Elsewhere it writes one line per finished section.
//
// (mpb rather than bubbletea: bubbletea v1 queries the terminal's colours
// from its package init whenever standard output is a terminal, which
// writes escape codes there and stalls every command, serve included, for
// five seconds on a terminal that does not answer.)

// jobState is what the display shows of a job.
type jobState struct {
	ID, Address, Provider string
	Status                string
	Done, Total           int
	// Base is the count of sections finished before this display started
	// that Sections does not show as completed (work resuming a job).
	Base     int
	Started  time.Time  // when the timer starts
	Finished *time.Time // when it stopped, once the job ended
	Sections []sectionView
	// Verify: the job verifies its sections' findings; Verified counts
	// the sections verified (see progress_verify.go).
	Verify   bool
	Verified int
}

// sectionView is one section's line.
type sectionView struct {
	Key, Title, Status, Error string
	Started                   time.Time
	Took                      time.Duration
}

// sectionsOf lists the job's sections by title, in report order.
func sectionsOf(keys []string) []sectionView {
	out := make([]sectionView, len(keys))
	for i, k := range keys {
		out[i] = sectionView{Key: k, Title: sectionTitle(k), Status: string(domain.SectionPending)}
	}
	return out
}

func sectionTitle(key string) string {
	if spec, ok := domain.LookupSection(key); ok {
		return spec.Title
	}
	return key
}

// progress is the display. Its methods are safe for concurrent use and do
// nothing before Start or after Stop.
type progress struct {
	out  io.Writer
	tty  bool
	logs *logSwitch

	mu        sync.Mutex
	state     jobState
	stopped   bool // the final frame
	active    bool
	begun     bool // startOnce ran
	container *mpb.Progress
	lines     []*mpb.Bar
}

func newProgress(env *environment) *progress {
	return &progress{out: env.stderr, tty: isTerminal(env.stderr) && os.Getenv("TERM") != "dumb", logs: env.logOut}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// Start shows the job; lines mode writes intro first, if any.
func (p *progress) Start(s jobState, intro string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state, p.active = s, true
	if !p.tty {
		if intro != "" {
			fmt.Fprintln(p.out, intro)
		}
		return
	}
	// One line of the container per line of the display: the address, the
	// bar and the sections. mpb redraws them and drops those below the
	// bottom of a short terminal.
	p.container = mpb.New(mpb.WithOutput(p.out), mpb.WithRefreshRate(refreshRate))
	for i := range len(s.Sections) + 2 {
		line, err := p.container.Add(1, mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
			_, err := io.WriteString(w, p.line(i, st.AvailableWidth))
			return err
		}), mpb.BarFillerTrim())
		if err == nil {
			p.lines = append(p.lines, line)
		}
	}
	p.logs.to(p.container)
}

// refreshRate is how often the terminal display is redrawn: the timer and
// the spinners move at this pace.
const refreshRate = 100 * time.Millisecond

// line is line i of the display at the terminal's width, "" past its end.
func (p *progress) line(i, width int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	height := 0
	if f, ok := p.out.(*os.File); ok {
		_, height, _ = term.GetSize(f.Fd())
	}
	lines := view(p.state, width, height, time.Now(), p.stopped)
	if i >= len(lines) {
		return ""
	}
	return lines[i]
}

// Section records a section's new status (running, completed, failed,
// canceled...).
func (p *progress) Section(key, status, errMsg string, took time.Duration, done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return
	}
	msg := sectionMsg{key: key, status: status, err: errMsg, took: took, done: done, at: time.Now()}
	p.state = msg.apply(p.state)
	if p.tty {
		return
	}
	if status == string(domain.SectionRunning) || status == string(domain.SectionPending) {
		return
	}
	line := fmt.Sprintf("[%d/%d] %s (%s): %s", p.state.Done, p.state.Total, sectionTitle(key), key, status)
	if took > 0 {
		line += " in " + took.Round(time.Millisecond).String()
	}
	if errMsg != "" {
		line += ": " + oneLine(errMsg)
	}
	fmt.Fprintln(p.out, line)
}

// Job records the job's status and finished count.
func (p *progress) Job(status string, done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return
	}
	p.state = jobMsg{status: status, done: done}.apply(p.state)
}

// Stop shows the final state and ends the display.
func (p *progress) Stop(status string) {
	p.mu.Lock()
	if !p.active {
		p.mu.Unlock()
		return
	}
	p.active = false
	if status != "" {
		p.state.Status = status
	}
	if p.state.Finished == nil {
		now := time.Now()
		p.state.Finished = &now
	}
	p.stopped = true
	container, lines := p.container, p.lines
	p.mu.Unlock()
	if container == nil {
		return
	}
	// Logs go straight to standard error again first: the container takes
	// no more lines once it is done.
	p.logs.to(nil)
	for _, l := range lines {
		l.SetTotal(-1, true)
	}
	container.Wait()
}

// hooks feed the display from the work of this process (check, work).
func (p *progress) hooks() app.Hooks {
	return app.Hooks{
		SectionStarted: func(_ domain.Job, key string) {
			p.Section(key, string(domain.SectionRunning), "", 0, -1)
		},
		SectionDone: func(_ domain.Job, s domain.SectionResult) {
			p.Section(s.Key, string(s.Status), s.Error, time.Duration(s.LatencyMS)*time.Millisecond, -1)
		},
		SectionVerified: func(_ domain.Job, s domain.SectionResult) {
			p.Verified(s.Key, -1, s.VerifiedAt != nil, verdictSummary(s))
		},
	}
}

// startingHooks are hooks that start the display at the job's first
// section (work: the job is known only once claimed).
func (p *progress) startingHooks() app.Hooks {
	h := p.hooks()
	started := h.SectionStarted
	h.SectionStarted = func(j domain.Job, key string) {
		p.startOnce(j)
		started(j, key)
	}
	return h
}

// startOnce starts the display for j unless it was started before.
func (p *progress) startOnce(j domain.Job) {
	p.mu.Lock()
	begun := p.begun
	p.begun = true
	p.mu.Unlock()
	if !begun {
		p.Start(jobState{ID: j.ID, Address: j.Address, Provider: j.Provider, Status: string(j.Status), Base: j.Done,
			Done: j.Done, Total: len(j.Sections), Started: time.Now(), Sections: sectionsOf(j.Sections),
			Verify: j.Verify, Verified: j.Verified}, "")
	}
}

// sectionMsg and jobMsg are changes to the display's state.
type (
	sectionMsg struct {
		key, status, err string
		took             time.Duration
		done             int // the job's count after it, or -1 to count completed sections
		at               time.Time
	}
	jobMsg struct {
		status string
		done   int
	}
)

// apply returns s with the section's new status.
func (m sectionMsg) apply(s jobState) jobState {
	secs := append([]sectionView(nil), s.Sections...)
	for i := range secs {
		if secs[i].Key != m.key {
			continue
		}
		if m.status == string(domain.SectionRunning) && secs[i].Status != m.status {
			secs[i].Started = m.at
		}
		secs[i].Status, secs[i].Error = m.status, m.err
		if m.took > 0 {
			secs[i].Took = m.took
		} else if !secs[i].Started.IsZero() && m.status != string(domain.SectionRunning) {
			secs[i].Took = m.at.Sub(secs[i].Started)
		}
	}
	s.Sections = secs
	if m.done >= 0 {
		s.Done = m.done
	} else {
		s.Done = s.Base
		for _, sec := range secs {
			if sec.Status == string(domain.SectionCompleted) {
				s.Done++
			}
		}
	}
	return s
}

func (m jobMsg) apply(s jobState) jobState {
	s.Status, s.Done = m.status, m.done
	return s
}

// spinner is the mark of a running section, one frame per refresh.
var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// view draws the display for a terminal of width columns and height rows
// (0: unknown), every line cut to fit: the address, the bar, then the
// sections (only those running or failed when the terminal is too short
// for all of them).
func view(s jobState, width, height int, now time.Time, stopped bool) []string {
	m := frame{state: s, now: now, stopped: stopped,
		spin: spinner[int(now.UnixMilli()/refreshRate.Milliseconds())%len(spinner)]}
	usable := max(width-1, 1) // the last column makes some terminals wrap
	if width <= 0 {
		usable = 79 // not a terminal
	}
	lines := []string{m.header(), m.bar(usable)}
	secs := s.Sections
	if height > 0 && len(secs)+3 > height {
		secs = m.unfinished()
		if room := max(height-3, 0); len(secs) > room {
			secs = secs[:room]
		}
	}
	for _, sec := range secs {
		lines = append(lines, m.sectionLine(sec, usable))
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, usable, "…")
	}
	return lines
}

// frame is one drawing of the display.
type frame struct {
	state   jobState
	now     time.Time
	stopped bool
	spin    string
}

func (m frame) header() string {
	h := m.state.Address
	if m.state.Provider != "" {
		h += " · " + m.state.Provider
	}
	return h
}

func (m frame) bar(width int) string {
	s := m.state
	end := m.now
	if s.Finished != nil {
		end = *s.Finished
	}
	elapsed := time.Duration(0)
	if !s.Started.IsZero() {
		elapsed = end.Sub(s.Started).Truncate(100 * time.Millisecond)
	}
	tail := fmt.Sprintf(" %d/%d %s", s.Done, s.Total, clock(elapsed))
	if s.Verify {
		tail = fmt.Sprintf(" %s %s", s.counts(), clock(elapsed))
	}
	if domain.JobStatus(s.Status).Terminal() {
		tail += " " + s.Status
	}
	barWidth := min(30, width-len(tail)-2)
	if barWidth < 5 || s.Total == 0 {
		return strings.TrimSpace(tail)
	}
	filled := barWidth * s.Done / s.Total
	return "[" + strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled) + "]" + tail
}

// clock writes a duration as 4.2s or 1m05s.
func clock(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

func (m frame) unfinished() []sectionView {
	var out []sectionView
	for _, s := range m.state.Sections {
		if s.Status == string(domain.SectionRunning) || s.Status == string(domain.SectionFailed) {
			out = append(out, s)
		}
	}
	return out
}

// sectionLine is one section: a mark (the spinner while it runs), its
// title cut to leave room for its time, and its time.
func (m frame) sectionLine(s sectionView, width int) string {
	mark, after := "·", ""
	switch domain.SectionStatus(s.Status) {
	case domain.SectionRunning:
		mark = m.spin
		if !s.Started.IsZero() && !m.stopped {
			after = clock(m.now.Sub(s.Started).Truncate(100 * time.Millisecond))
		}
	case domain.SectionCompleted:
		mark = "✓"
		if s.Took > 0 {
			after = clock(s.Took)
		}
	case domain.SectionFailed:
		mark, after = "✗", "failed"
	case domain.SectionPending:
	default:
		mark, after = "-", s.Status
	}
	room := width - 2
	if after != "" {
		room -= len(after) + 2
	}
	title := ansi.Truncate(s.Title, max(room, 1), "…")
	line := mark + " " + title
	if after != "" {
		line += strings.Repeat(" ", max(width-ansi.StringWidth(line)-len(after), 2)) + after
	}
	return line
}

// logSwitch is the logs' writer: standard error, or while the terminal
// display runs, lines printed above it.
type logSwitch struct {
	mu    sync.Mutex
	w     io.Writer
	above io.Writer
}

func (l *logSwitch) to(above io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.above = above
}

func (l *logSwitch) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.above != nil {
		return l.above.Write(b)
	}
	return l.w.Write(b)
}
