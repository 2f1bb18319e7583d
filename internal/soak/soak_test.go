package soak

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	sampleEvery = 10 * time.Second
	swapEvery   = 3 * time.Second
	// idleSlack is how many goroutines more than before the load the
	// ambassador may keep once the load has stopped and its connections
	// are closed.
	idleSlack = 5
)

// TestSoak runs the ambassador binary under steady load for SOAK_DURATION
// (skipped when unset; `make soak` sets 10m, `make test` 60s) at SOAK_RATE
// jobs a second (default 500) while its table swaps every 3 s, and fails
// if goroutines, live heap or resident memory grow faster than limits
// allow, if any job fails, or if goroutines do not return to their level
// before the load once it stops.
func TestSoak(t *testing.T) {
	d, rate := soakSettings(t)
	if os.Getenv(inNetnsEnv) == "" {
		reexecInNetns(t, buildAmbassador(t), d+5*time.Minute)
		return
	}
	setUpNamespace(t)
	w := newWorld(t, os.Getenv(binEnv))
	before := w.take(t, 0)
	swapsBefore := w.metric(t, "meshlite_table_swaps_total")
	t.Logf("soak: %s at %d jobs/s (9/20 local door, 9/20 forward door, 2/20 CONNECT tunnels), table swap every %s, sample every %s",
		d, rate, swapEvery, sampleEvery)

	l := startLoad(w, rate)
	sw := startSwaps(w)
	samples := collect(t, w, d)
	written := sw.stop()
	l.stop()
	if err := sw.error(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "table a served again", func() bool {
		code, body := get(fmt.Sprintf("http://127.0.0.1:%d/api", w.localPort))
		return code == 200 && body == "/a"
	})

	t.Logf("samples (before the load: %.0f goroutines, %.2f MiB heap, %.2f MiB RSS):\n%s",
		before.goroutines, before.heap/(1<<20), before.rss/(1<<20), renderSamples(samples))
	checkLoad(t, l, d)
	checkSwaps(t, w, l, written, swapsBefore)
	factor := 1.0
	if d < 5*time.Minute {
		factor = shortRunFactor
	}
	checkSlopes(t, samples, warmup(d), factor)
	checkIdle(t, w, before)
}

// soakSettings reads SOAK_DURATION and SOAK_RATE, skipping the test when
// SOAK_DURATION is unset: the soak runs from make, not from a bare go test.
func soakSettings(t *testing.T) (time.Duration, int) {
	t.Helper()
	v := os.Getenv("SOAK_DURATION")
	if v == "" {
		t.Skip("soak: set SOAK_DURATION (make soak runs 10m, make test 60s)")
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 2*sampleEvery {
		t.Fatalf("SOAK_DURATION=%q: want a duration of at least %s", v, 2*sampleEvery)
	}
	rate := 500
	if v := os.Getenv("SOAK_RATE"); v != "" {
		if rate, err = strconv.Atoi(v); err != nil || rate < 1 {
			t.Fatalf("SOAK_RATE=%q: want a positive number of jobs a second", v)
		}
	}
	return d, rate
}

// warmup is the time before the samples the slopes are fitted to: a sixth
// of the run, at most 30 s (pools and buffers fill first).
func warmup(d time.Duration) time.Duration { return min(d/6, 30*time.Second) }

// collect samples the ambassador every sampleEvery until d has passed.
func collect(t *testing.T, w *world, d time.Duration) []sample {
	t.Helper()
	var samples []sample
	start := time.Now()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for range tick.C {
		s := w.take(t, time.Since(start))
		samples = append(samples, s)
		t.Logf("t=%s goroutines=%.0f heap=%.2fMiB rss=%.2fMiB", s.at.Round(time.Second), s.goroutines, s.heap/(1<<20), s.rss/(1<<20))
		if time.Since(start) >= d-sampleEvery/2 {
			return samples
		}
	}
	return samples
}

// checkLoad fails on any failed job; the load must also have been sent.
func checkLoad(t *testing.T, l *load, d time.Duration) {
	t.Helper()
	var total int64
	for k := range kinds {
		tl := &l.tallies[k]
		ok, failed := tl.ok.Load(), tl.failed.Load()
		total += ok + failed
		t.Logf("%-15s ok %7d  failed %d %s", kindNames[k], ok, failed, tl.firstErr)
		if failed > 0 {
			t.Errorf("%s: %d of %d failed; first: %s", kindNames[k], failed, ok+failed, tl.firstErr)
		}
		if ok == 0 {
			t.Errorf("%s: nothing succeeded", kindNames[k])
		}
	}
	t.Logf("jobs done %d (%.0f/s); not sent because every worker was busy: %d", total, float64(total)/d.Seconds(), l.behind.Load())
}

// checkSwaps fails unless the ambassador applied the tables written and
// both tables served the local door.
func checkSwaps(t *testing.T, w *world, l *load, written int, before float64) {
	t.Helper()
	applied := w.metric(t, "meshlite_table_swaps_total") - before
	t.Logf("tables written %d, swaps applied %.0f; local door answers from table a %d, b %d", written, applied, l.fromA.Load(), l.fromB.Load())
	if written < 2 || applied < float64(written)/2 {
		t.Errorf("tables written %d, swaps applied %.0f: want at least 2 written and half of them applied", written, applied)
	}
	if l.fromA.Load() == 0 || l.fromB.Load() == 0 {
		t.Errorf("the local door answered from table a %d times and b %d times: both must have served", l.fromA.Load(), l.fromB.Load())
	}
}

// checkSlopes fits each limit over the samples taken after the warm-up.
func checkSlopes(t *testing.T, samples []sample, warm time.Duration, factor float64) {
	t.Helper()
	var fit []sample
	for _, s := range samples {
		if s.at >= warm {
			fit = append(fit, s)
		}
	}
	var b strings.Builder
	for _, lim := range limits {
		sl, most := lim.slopePerMinute(fit), lim.perMinute*factor
		fmt.Fprintf(&b, "slope %-16s %+9.3f %s/min (limit %+.2f)\n", lim.name, sl, lim.unit, most)
		if sl > most {
			t.Errorf("%s grew %.3f %s/min over %d samples after %s, limit %.2f", lim.name, sl, lim.unit, len(fit), warm, most)
		}
	}
	t.Logf("least-squares slopes over %d samples from t=%s:\n%s", len(fit), warm, b.String())
}

// checkIdle closes the upstream's connections (so the ambassador's pooled
// ones end) and waits for the ambassador's goroutines to return to within
// idleSlack of their number before the load.
func checkIdle(t *testing.T, w *world, before sample) {
	t.Helper()
	w.upstream.CloseClientConnections()
	var last float64
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if last = w.metric(t, "go_goroutines"); last <= before.goroutines+idleSlack {
			t.Logf("after the load: %.0f goroutines (before it: %.0f)", last, before.goroutines)
			return
		}
	}
	_, dump := get(w.admin + "/debug/pprof/goroutine?debug=1")
	t.Errorf("after the load the ambassador kept %.0f goroutines for %s, before it %.0f (slack %d):\n%s",
		last, waitLimit, before.goroutines, idleSlack, dump)
}

// swapper rewrites the table between versions a and b every swapEvery.
type swapper struct {
	w       *world
	done    chan struct{}
	wg      sync.WaitGroup
	written int
	err     error
}

func startSwaps(w *world) *swapper {
	s := &swapper{w: w, done: make(chan struct{})}
	s.wg.Go(s.run)
	return s
}

func (s *swapper) run() {
	tick := time.NewTicker(swapEvery)
	defer tick.Stop()
	next := "b"
	for {
		select {
		case <-s.done:
			if next == "a" { // end on table a, as the run began
				s.write("a")
			}
			return
		case <-tick.C:
			if !s.write(next) {
				return
			}
			next = map[string]string{"a": "b", "b": "a"}[next]
		}
	}
}

func (s *swapper) write(v string) bool {
	if err := writeFile(s.w.dir, s.w.table(v)); err != nil {
		s.err = err
		return false
	}
	s.written++
	return true
}

// stop ends the swaps and returns how many tables were written.
func (s *swapper) stop() int {
	close(s.done)
	s.wg.Wait()
	return s.written
}

func (s *swapper) error() error { return s.err }
