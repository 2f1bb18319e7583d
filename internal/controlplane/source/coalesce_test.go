package source

import (
	"context"
	"sync"
	"testing"
	"time"
)

// flushLog records when a Coalescer flushed, and answers each flush with
// whether it "published".
type flushLog struct {
	mu        sync.Mutex
	at        []time.Time
	publishes bool
	flushed   chan struct{}
}

func newFlushLog(publishes bool) *flushLog {
	return &flushLog{publishes: publishes, flushed: make(chan struct{}, 100)}
}

func (f *flushLog) flush() bool {
	f.mu.Lock()
	f.at = append(f.at, time.Now())
	f.mu.Unlock()
	f.flushed <- struct{}{}
	return f.publishes
}

func (f *flushLog) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.at...)
}

// wait returns after the next flush, failing after 10s.
func (f *flushLog) wait(t *testing.T) {
	t.Helper()
	select {
	case <-f.flushed:
	case <-time.After(10 * time.Second):
		t.Fatal("no flush within 10s")
	}
}

func runCoalescer(t *testing.T, window, maxWait time.Duration, f *flushLog) *Coalescer {
	t.Helper()
	c := NewCoalescer(window, maxWait, f.flush)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func TestCoalescerFlushesAnIsolatedChangeAtOnce(t *testing.T) {
	const window = 2 * time.Second
	f := newFlushLog(true)
	c := runCoalescer(t, window, 0, f)
	start := time.Now()
	c.Changed()
	f.wait(t)
	if took := time.Since(start); took > window/2 {
		t.Fatalf("an isolated change was flushed after %s; want at once, well before the %s window", took, window)
	}
}

func TestCoalescerCoalescesABurst(t *testing.T) {
	const window = time.Second
	f := newFlushLog(true)
	c := runCoalescer(t, window, 0, f)
	c.Changed()
	f.wait(t) // the leading edge
	for range 20 {
		c.Changed()
		time.Sleep(5 * time.Millisecond)
	}
	f.wait(t) // the window's end, for all 20
	// Barrier: a change long after the window is flushed at once, so every
	// flush of the burst happened before it.
	time.Sleep(window + window/2)
	c.Changed()
	f.wait(t)
	at := f.times()
	if len(at) != 3 {
		t.Fatalf("%d flushes, want 3: the burst's first change, the rest at the window's end, the late change", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < window {
		t.Errorf("the burst's second flush came %s after the first, inside the %s window", gap, window)
	}
}

func TestCoalescerFlushThatPublishedNothingOpensNoWindow(t *testing.T) {
	const window = 2 * time.Second
	f := newFlushLog(false)
	c := runCoalescer(t, window, 0, f)
	c.Changed()
	f.wait(t)
	start := time.Now()
	c.Changed()
	f.wait(t)
	if took := time.Since(start); took > window/2 {
		t.Fatalf("a change after a flush that published nothing waited %s; want at once", took)
	}
}

func TestCoalescerSettlingWaitsForQuiet(t *testing.T) {
	const window = 500 * time.Millisecond
	f := newFlushLog(true)
	c := runCoalescer(t, window, 10*window, f)
	c.Settling()
	time.Sleep(window / 5)
	last := time.Now()
	c.Settling()
	c.Changed() // a complete change waits for the settling one
	f.wait(t)
	if at := f.times()[0]; at.Sub(last) < window {
		t.Fatalf("flushed %s after the last settling signal; want at least the %s quiet time", at.Sub(last), window)
	}
	if n := len(f.times()); n != 1 {
		t.Errorf("%d flushes, want 1", n)
	}
}

func TestCoalescerMaxWaitBoundsContinuousSettling(t *testing.T) {
	const window, maxWait = 300 * time.Millisecond, 900 * time.Millisecond
	f := newFlushLog(true)
	c := runCoalescer(t, window, maxWait, f)
	start := time.Now()
	stop := time.After(4 * maxWait)
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-f.flushed:
			break loop
		default:
			c.Settling()
			time.Sleep(window / 10)
		}
	}
	at := f.times()
	if len(at) == 0 {
		t.Fatalf("no flush within %s of continuous settling; want one by the %s max wait", 4*maxWait, maxWait)
	}
	if took := at[0].Sub(start); took < maxWait {
		t.Errorf("flushed after %s of continuous settling; want no sooner than the %s max wait", took, maxWait)
	}
}
