package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"

	"github.com/codecheck/codecheck/app"
	"github.com/codecheck/codecheck/domain"
)

// The progress display of check, work and watch, on standard error. On a
// terminal it is a bubbletea program: the address, a bar with the count and
// a ticking timer, and every section by title with a spinner while it runs;
// each line is cut to the terminal's width, so nothing ever wraps. Elsewhere
// it writes one line per finished section.

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

	mu      sync.Mutex
	state   jobState
	active  bool
	begun   bool // startOnce ran
	program *tea.Program
	ended   chan struct{}
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
	p.program = tea.NewProgram(newProgressModel(s), tea.WithOutput(p.out), tea.WithInput(nil),
		tea.WithoutSignalHandler(), tea.WithoutBracketedPaste(), tea.WithoutCatchPanics())
	p.ended = make(chan struct{})
	p.logs.to(p.program)
	go func() {
		defer close(p.ended)
		_, _ = p.program.Run()
	}()
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
		p.program.Send(msg)
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
	msg := jobMsg{status: status, done: done}
	p.state = msg.apply(p.state)
	if p.tty {
		p.program.Send(msg)
	}
}

// Stop shows the final state and ends the display.
func (p *progress) Stop(status string) {
	p.mu.Lock()
	if !p.active {
		p.mu.Unlock()
		return
	}
	p.active = false
	program, ended := p.program, p.ended
	p.mu.Unlock()
	if program == nil {
		return
	}
	// Logs go straight to standard error again first: a line sent to a
	// program that is quitting would be lost.
	p.logs.to(nil)
	program.Send(stopMsg{status: status, at: time.Now()})
	<-ended
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
			Done: j.Done, Total: len(j.Sections), Started: time.Now(), Sections: sectionsOf(j.Sections)}, "")
	}
}

// Messages of the bubbletea model.
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
	stopMsg struct {
		status string
		at     time.Time
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

// progressModel is the bubbletea model of the terminal display.
type progressModel struct {
	state         jobState
	spin          spinner.Model
	width, height int
	stopped       bool
}

func newProgressModel(s jobState) progressModel {
	return progressModel{state: s, spin: spinner.New(spinner.WithSpinner(spinner.MiniDot))}
}

func (m progressModel) Init() tea.Cmd { return m.spin.Tick }

func (m progressModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case sectionMsg:
		m.state = msg.apply(m.state)
	case jobMsg:
		m.state = msg.apply(m.state)
	case stopMsg:
		m.stopped, m.state.Status = true, msg.status
		if m.state.Finished == nil {
			m.state.Finished = &msg.at
		}
		return m, tea.Quit
	case spinner.TickMsg:
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	}
	return m, nil
}

// View draws the display, every line cut to fit: the address, the bar,
// then the sections (only those running or failed when the terminal is too
// short for all of them).
func (m progressModel) View() string {
	width := max(m.width-1, 1) // the last column makes some terminals wrap
	if m.width == 0 {
		width = 79 // not told yet
	}
	now := time.Now()
	lines := []string{m.header(), m.bar(width, now)}
	secs := m.state.Sections
	if m.height > 0 && len(secs)+3 > m.height {
		secs = m.unfinished()
		if room := max(m.height-3, 0); len(secs) > room {
			secs = secs[:room]
		}
	}
	for _, s := range secs {
		lines = append(lines, m.sectionLine(s, width, now))
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, width, "…")
	}
	view := strings.Join(lines, "\n")
	if m.stopped {
		// The renderer erases the last line when it stops.
		view += "\n"
	}
	return view
}

func (m progressModel) header() string {
	h := m.state.Address
	if m.state.Provider != "" {
		h += " · " + m.state.Provider
	}
	return h
}

func (m progressModel) bar(width int, now time.Time) string {
	s := m.state
	end := now
	if s.Finished != nil {
		end = *s.Finished
	}
	elapsed := time.Duration(0)
	if !s.Started.IsZero() {
		elapsed = end.Sub(s.Started).Truncate(100 * time.Millisecond)
	}
	tail := fmt.Sprintf(" %d/%d %s", s.Done, s.Total, clock(elapsed))
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

func (m progressModel) unfinished() []sectionView {
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
func (m progressModel) sectionLine(s sectionView, width int, now time.Time) string {
	mark, after := "·", ""
	switch domain.SectionStatus(s.Status) {
	case domain.SectionRunning:
		mark = m.spin.View()
		if !s.Started.IsZero() && !m.stopped {
			after = clock(now.Sub(s.Started).Truncate(100 * time.Millisecond))
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
	mu      sync.Mutex
	w       io.Writer
	program *tea.Program
}

func (l *logSwitch) to(p *tea.Program) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.program = p
}

func (l *logSwitch) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.program != nil {
		l.program.Println(strings.TrimRight(string(b), "\n"))
		return len(b), nil
	}
	return l.w.Write(b)
}
