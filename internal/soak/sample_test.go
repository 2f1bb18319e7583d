package soak

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sample is one reading of the ambassador's /metrics.
type sample struct {
	at         time.Duration // since the load started
	goroutines float64       // go_goroutines, least of readings
	heap       float64       // go_memstats_heap_inuse_bytes after a GC, least of readings
	rss        float64       // process_resident_memory_bytes
}

// readings is how many times take reads goroutines and heap, readingGap
// apart. Under steady load both jump with the requests and tunnels in
// flight at the instant of reading (more when the machine stalls the
// ambassador for a moment): a leak raises every reading, a burst only
// some, so the least of them is what a slope should be fitted to.
const (
	readings   = 3
	readingGap = 200 * time.Millisecond
)

// take reads a sample. Before each heap reading it asks the ambassador for
// a heap profile with gc=1, which runs a garbage collection, so that the
// reading is the live heap rather than wherever the collector's cycle
// happened to be.
func (w *world) take(t *testing.T, at time.Duration) sample {
	t.Helper()
	s := sample{at: at, goroutines: math.Inf(1), heap: math.Inf(1)}
	for i := range readings {
		if i > 0 {
			time.Sleep(readingGap) // spacing readings, not waiting for an event
		}
		if code, body := get(w.admin + "/debug/pprof/heap?gc=1"); code != http.StatusOK {
			t.Fatalf("ambassador /debug/pprof/heap?gc=1: %d %.200s", code, body)
		}
		s.goroutines = min(s.goroutines, w.metric(t, "go_goroutines"))
		s.heap = min(s.heap, w.metric(t, "go_memstats_heap_inuse_bytes"))
	}
	s.rss = w.metric(t, "process_resident_memory_bytes")
	return s
}

// limit is the growth one metric may show: its least-squares slope over the
// samples after the warm-up, per minute, must not exceed perMinute.
type limit struct {
	name      string
	unit      string
	scale     float64 // divides the raw value for printing (bytes → MiB)
	perMinute float64 // in printed units
	value     func(sample) float64
}

// limits are the soak's thresholds for a run of 5 minutes or more;
// README.md states them. A shorter run fits fewer samples, whose noise
// weighs more, and gets shortRunFactor times as much.
var limits = []limit{
	{"goroutines", "goroutines", 1, 5, func(s sample) float64 { return s.goroutines }},
	{"heap in use", "MiB", 1 << 20, 0.5, func(s sample) float64 { return s.heap }},
	{"resident memory", "MiB", 1 << 20, 1, func(s sample) float64 { return s.rss }},
}

const shortRunFactor = 3

// slope is the least-squares slope of ys over xs; 0 with fewer than two
// distinct xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return 0
	}
	var sx, sy float64
	for i := range xs {
		sx, sy = sx+xs[i], sy+ys[i]
	}
	mx, my := sx/n, sy/n
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// slopePerMinute fits l's metric over samples (in printed units per minute).
func (l limit) slopePerMinute(samples []sample) float64 {
	xs, ys := make([]float64, len(samples)), make([]float64, len(samples))
	for i, s := range samples {
		xs[i], ys[i] = s.at.Minutes(), l.value(s)/l.scale
	}
	return slope(xs, ys)
}

// table renders samples as a fixed-width table for the test log.
func renderSamples(samples []sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%8s %11s %14s %14s\n", "t", "goroutines", "heap_MiB", "rss_MiB")
	for _, s := range samples {
		fmt.Fprintf(&b, "%8s %11.0f %14.2f %14.2f\n", s.at.Round(time.Second), s.goroutines, s.heap/(1<<20), s.rss/(1<<20))
	}
	return b.String()
}
