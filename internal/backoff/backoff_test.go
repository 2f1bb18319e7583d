package backoff

import (
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{0, 25 * time.Millisecond}, {1, 50 * time.Millisecond}, {3, 200 * time.Millisecond}, {4, 250 * time.Millisecond}, {1000, 250 * time.Millisecond}} {
		if got := Ceiling(25*time.Millisecond, 250*time.Millisecond, c.n); got != c.want {
			t.Errorf("Ceiling(25ms, 250ms, %d) = %s, want %s", c.n, got, c.want)
		}
	}
}

func TestExponentialStaysWithinItsCeilingAndSpreads(t *testing.T) {
	base, limit := 10*time.Millisecond, time.Second
	for n := range 12 {
		ceiling := Ceiling(base, limit, n)
		var largest time.Duration
		for range 200 {
			d := Exponential(base, limit, n)
			if d < 0 || d > ceiling {
				t.Fatalf("Exponential(n=%d) = %s, want within [0, %s]", n, d, ceiling)
			}
			largest = max(largest, d)
		}
		if largest <= ceiling/2 {
			t.Errorf("Exponential(n=%d): largest of 200 draws %s, want some above %s (full jitter)", n, largest, ceiling/2)
		}
	}
	if d := FullJitter(0); d != 0 {
		t.Errorf("FullJitter(0) = %s, want 0", d)
	}
}
