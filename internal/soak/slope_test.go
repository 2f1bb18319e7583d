package soak

import (
	"math"
	"testing"
	"time"
)

func TestSlope(t *testing.T) {
	tests := []struct {
		name   string
		xs, ys []float64
		want   float64
	}{
		{"flat", []float64{0, 1, 2, 3}, []float64{5, 5, 5, 5}, 0},
		{"a line", []float64{0, 1, 2, 3}, []float64{1, 3, 5, 7}, 2},
		{"falling", []float64{1, 2, 3}, []float64{9, 6, 3}, -3},
		{"noise around a line", []float64{0, 1, 2, 3}, []float64{0, 2, 1, 3}, 0.8},
		{"one point", []float64{1}, []float64{4}, 0},
		{"no spread in x", []float64{2, 2}, []float64{1, 5}, 0},
		{"lengths differ", []float64{0, 1}, []float64{1}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := slope(tc.xs, tc.ys); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("slope(%v, %v) = %v, want %v", tc.xs, tc.ys, got, tc.want)
			}
		})
	}
}

// TestSlopePerMinute checks the units: samples 30 s apart, heap rising by
// 1 MiB a sample, is 2 MiB a minute.
func TestSlopePerMinute(t *testing.T) {
	var samples []sample
	for i := range 5 {
		samples = append(samples, sample{at: time.Duration(i) * 30 * time.Second, heap: float64(i) * (1 << 20)})
	}
	heap := limits[1]
	if heap.name != "heap in use" {
		t.Fatalf("limits[1] is %q", heap.name)
	}
	if got := heap.slopePerMinute(samples); math.Abs(got-2) > 1e-9 {
		t.Errorf("heap slope = %v MiB/min, want 2", got)
	}
}
