package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// recordingWriter keeps everything written and counts Write calls. When gate
// is set, each Write announces itself on entered and waits for gate.
type recordingWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	writes  int
	delay   time.Duration
	entered chan struct{}
	gate    chan struct{}
	fail    func(call int) error
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.entered != nil {
		w.entered <- struct{}{}
	}
	if w.gate != nil {
		<-w.gate
	}
	if w.delay > 0 {
		time.Sleep(w.delay)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.fail != nil {
		if err := w.fail(w.writes); err != nil {
			return 0, err
		}
	}
	return w.buf.Write(p)
}

func (w *recordingWriter) snapshot() (lines []string, writes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(w.buf.Bytes()))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, w.writes
}

func newTestLogger(t *testing.T, w io.Writer, opts Options) *Logger {
	t.Helper()
	l, err := NewLogger(w, opts)
	if err != nil {
		t.Fatalf("NewLogger: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}

func entryWithID(id string) *Entry {
	e := sampleEntry()
	e.ID = id
	return e
}

// idsOf decodes every line and returns how often each id occurs.
func idsOf(t *testing.T, lines []string) map[string]int {
	t.Helper()
	ids := make(map[string]int, len(lines))
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("invalid line %q: %v", line, err)
		}
		id, _ := m[FieldID].(string)
		ids[id]++
	}
	return ids
}

func TestLogBlockModeKeepsEveryLineOnceUnderConcurrency(t *testing.T) {
	const goroutines, perGoroutine = 16, 300
	w := &recordingWriter{delay: 200 * time.Microsecond}
	l := newTestLogger(t, w, Options{QueueLines: 8}) // tiny queue: Log must wait
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				l.Log(entryWithID(fmt.Sprintf("g%d-%d", g, i)))
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	lines, _ := w.snapshot()
	ids := idsOf(t, lines)
	if len(lines) != goroutines*perGoroutine || len(ids) != goroutines*perGoroutine {
		t.Fatalf("got %d lines with %d distinct ids, want %d of each", len(lines), len(ids), goroutines*perGoroutine)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("id %s written %d times", id, n)
		}
	}
	if got := counterValue(t, l.metrics.lines); got != goroutines*perGoroutine {
		t.Errorf("lines_total = %v, want %d", got, goroutines*perGoroutine)
	}
	if got := counterValue(t, l.metrics.dropped); got != 0 {
		t.Errorf("dropped_total = %v, want 0 in block mode", got)
	}
}

func TestLogBatchesLinesIntoOneWrite(t *testing.T) {
	w := &recordingWriter{entered: make(chan struct{}, 200), gate: make(chan struct{})}
	close(w.gate)
	l := newTestLogger(t, w, Options{FlushInterval: time.Hour})
	for i := range 101 {
		l.Log(entryWithID(fmt.Sprint(i)))
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	lines, writes := w.snapshot()
	if len(lines) != 101 {
		t.Fatalf("got %d lines, want 101", len(lines))
	}
	if writes != 1 {
		t.Errorf("got %d Write calls, want 1: lines wait for the interval or a full batch", writes)
	}
}

func TestLogFlushesWithinTheInterval(t *testing.T) {
	w := &recordingWriter{entered: make(chan struct{}, 10), gate: make(chan struct{})}
	close(w.gate)
	l := newTestLogger(t, w, Options{FlushInterval: 5 * time.Millisecond})
	l.Log(entryWithID("alone"))
	select {
	case <-w.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("a lone line was not written after its flush interval")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if lines, writes := w.snapshot(); len(lines) != 1 || writes != 1 {
		t.Errorf("got %d lines in %d writes, want 1 in 1 (written by the timer, not by Close)", len(lines), writes)
	}
}

func TestLogDropModeCountsDropsAndNeverBlocks(t *testing.T) {
	w := &recordingWriter{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	l := newTestLogger(t, w, Options{Overflow: OverflowDrop, QueueLines: 4, FlushInterval: time.Millisecond})
	l.Log(entryWithID("held"))
	<-w.entered // the writer holds one line; the queue is empty
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for i := range 20 {
			l.Log(entryWithID(fmt.Sprint(i)))
		}
	}()
	select {
	case <-logged:
	case <-time.After(30 * time.Second):
		t.Fatal("Log blocked in drop mode while the writer was stuck")
	}
	if got := counterValue(t, l.metrics.dropped); got != 16 {
		t.Errorf("dropped_total = %v, want 16 (20 logged, 4 fit the queue)", got)
	}
	close(w.gate)
	go func() {
		for range w.entered {
		}
	}()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	close(w.entered)
	lines, _ := w.snapshot()
	if len(lines) != 5 {
		t.Errorf("got %d lines, want 5 (the held one and 4 queued)", len(lines))
	}
	if got := counterValue(t, l.metrics.lines); got != 5 {
		t.Errorf("lines_total = %v, want 5", got)
	}
}

func TestLogRetriesAFailedWriteAndLosesNothing(t *testing.T) {
	errDisk := errors.New("disk full")
	w := &recordingWriter{
		entered: make(chan struct{}, 1),
		fail: func(call int) error {
			if call == 1 {
				return errDisk
			}
			return nil
		},
	}
	l := newTestLogger(t, w, Options{})
	l.Log(entryWithID("retried"))
	<-w.entered
	l.Log(entryWithID("next"))
	go func() {
		for range w.entered {
		}
	}()
	err := l.Close()
	close(w.entered)
	if !errors.Is(err, errDisk) || !strings.HasPrefix(err.Error(), "audit: write: ") {
		t.Errorf("Close = %v, want the first write error named after the component", err)
	}
	lines, _ := w.snapshot()
	if ids := idsOf(t, lines); len(lines) != 2 || ids["retried"] != 1 || ids["next"] != 1 {
		t.Errorf("got lines %q, want both, the first one written by the retry", lines)
	}
	if got := counterValue(t, l.metrics.writeErrors); got != 1 {
		t.Errorf("write_errors_total = %v, want 1", got)
	}
	if got := counterValue(t, l.metrics.lines); got != 2 {
		t.Errorf("lines_total = %v, want 2", got)
	}
	if got := counterValue(t, l.metrics.dropped); got != 0 {
		t.Errorf("dropped_total = %v, want 0", got)
	}
}

// tearingWriter writes the first limit bytes it is given, then fails every
// Write until healed.
type tearingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	limit  int
	healed bool
	calls  int
}

func (w *tearingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if w.healed {
		return w.buf.Write(p)
	}
	room := w.limit - w.buf.Len()
	if room <= 0 {
		return 0, errors.New("broken pipe")
	}
	n, _ := w.buf.Write(p[:min(room, len(p))])
	if n < len(p) {
		return n, errors.New("broken pipe")
	}
	return n, nil
}

func (w *tearingWriter) heal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.healed = true
}

func TestLogCountsLinesAWriteKeepsFailingOnAsDroppedAndEndsATornLine(t *testing.T) {
	first := encodeLine(entryWithID("whole"))
	w := &tearingWriter{limit: len(*first) + 10} // the first line, then 10 bytes of the next
	l := newTestLogger(t, w, Options{FlushInterval: time.Hour})
	for _, id := range []string{"whole", "torn", "lost"} {
		l.Log(entryWithID(id))
	}
	// Flush the three lines as one batch: a full batch, or Close. The
	// writer is healed only after the batch has failed for good, through a
	// line logged after Close, which Log writes itself.
	if err := l.Close(); err == nil {
		t.Fatal("Close = nil, want the write error")
	}
	w.heal()
	l.Log(entryWithID("after"))
	w.mu.Lock()
	out, calls := w.buf.String(), w.calls
	w.mu.Unlock()
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != 3 || !strings.Contains(got[0], `"id":"whole"`) || strings.Contains(got[1], "}") || !strings.Contains(got[2], `"id":"after"`) {
		t.Errorf("stream = %q, want the whole line, the torn fragment ended by a newline, then the late line", out)
	}
	if calls < writeAttempts {
		t.Errorf("%d Write calls, want at least %d tries of the failing batch", calls, writeAttempts)
	}
	if got := counterValue(t, l.metrics.writeErrors); got != writeAttempts {
		t.Errorf("write_errors_total = %v, want %d (one per try)", got, writeAttempts)
	}
	if got := counterValue(t, l.metrics.lines); got != 2 {
		t.Errorf("lines_total = %v, want 2 (whole, after)", got)
	}
	if got := counterValue(t, l.metrics.dropped); got != 2 {
		t.Errorf("dropped_total = %v, want 2 (torn, lost)", got)
	}
}

func TestLogAfterCloseWritesTheLineItself(t *testing.T) {
	w := &recordingWriter{}
	l := newTestLogger(t, w, Options{})
	l.Log(entryWithID("before"))
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l.Log(entryWithID("after"))
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	lines, _ := w.snapshot()
	if ids := idsOf(t, lines); len(lines) != 2 || ids["before"] != 1 || ids["after"] != 1 {
		t.Errorf("got lines %q, want the one logged before Close and the one after", lines)
	}
	if got := counterValue(t, l.metrics.lines); got != 2 {
		t.Errorf("lines_total = %v, want 2", got)
	}
	if got := counterValue(t, l.metrics.dropped); got != 0 {
		t.Errorf("dropped_total = %v, want 0", got)
	}
}

func TestCloseRacingWithLogLosesNothingSilently(t *testing.T) {
	const goroutines, perGoroutine = 8, 500
	w := &recordingWriter{}
	l := newTestLogger(t, w, Options{QueueLines: 16})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				l.Log(entryWithID(fmt.Sprintf("g%d-%d", g, i)))
			}
		})
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	lines, _ := w.snapshot()
	written := counterValue(t, l.metrics.lines)
	dropped := counterValue(t, l.metrics.dropped)
	if int(written) != len(lines) {
		t.Errorf("lines_total = %v but %d lines were written", written, len(lines))
	}
	if int(written+dropped) != goroutines*perGoroutine {
		t.Errorf("written %v + dropped %v != logged %d", written, dropped, goroutines*perGoroutine)
	}
}

func TestLogStampsZeroTimeWithoutModifyingEntry(t *testing.T) {
	w := &recordingWriter{}
	l := newTestLogger(t, w, Options{})
	e := entryWithID("stamped")
	e.Time = time.Time{}
	l.Log(e)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !e.Time.IsZero() {
		t.Errorf("Log modified the caller's entry time to %v", e.Time)
	}
	lines, _ := w.snapshot()
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	ts, err := time.Parse(time.RFC3339Nano, m[FieldTime].(string))
	if err != nil || ts.Year() < 2024 {
		t.Errorf("ts = %v (%v), want the current time", m[FieldTime], err)
	}
}

func TestNewLoggerRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name    string
		w       io.Writer
		opts    Options
		wantErr string
	}{
		{"unknown overflow names the allowed values", io.Discard, Options{Overflow: "lossy"}, `audit: overflow "lossy" not supported (use "block" or "drop")`},
		{"negative queue", io.Discard, Options{QueueLines: -1}, "audit: queue lines -1 is negative"},
		{"negative flush interval", io.Discard, Options{FlushInterval: -time.Second}, "audit: flush interval -1s is negative"},
		{"nil writer", nil, Options{}, "audit: writer is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLogger(tt.w, tt.opts)
			if err == nil {
				_ = l.Close()
				t.Fatal("NewLogger succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want prefix %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoggersShareOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := newTestLogger(t, io.Discard, Options{Registerer: reg})
	b := newTestLogger(t, io.Discard, Options{Registerer: reg})
	a.Log(entryWithID("a"))
	b.Log(entryWithID("b"))
	_ = a.Close()
	_ = b.Close()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	if want := "meshlite_audit_dropped_total,meshlite_audit_lines_total,meshlite_audit_write_errors_total"; strings.Join(names, ",") != want {
		t.Fatalf("gathered %v, want %s", names, want)
	}
	if got := counterValue(t, a.metrics.lines); got != 2 {
		t.Errorf("shared lines_total = %v, want 2", got)
	}
}

func BenchmarkLogParallel(b *testing.B) {
	l, err := NewLogger(io.Discard, Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := sampleEntry()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(e)
		}
	})
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
