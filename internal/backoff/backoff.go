// Package backoff is the one exponential backoff with full jitter that
// meshlite uses: between retries of an upstream call and between xDS
// reconnects and NACKs. A random wait in [0, ceiling] spreads many clients'
// retries out instead of letting them fall in step.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Ceiling is min(limit, base·2^n), without overflow for large n.
func Ceiling(base, limit time.Duration, n int) time.Duration {
	ceiling := base
	for i := 0; i < n && ceiling < limit; i++ {
		ceiling *= 2
	}
	return min(ceiling, limit)
}

// FullJitter returns a random duration in [0, ceiling]; 0 for a ceiling
// that is not positive.
func FullJitter(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// Exponential is FullJitter(Ceiling(base, limit, n)): the wait before
// retry n+1.
func Exponential(base, limit time.Duration, n int) time.Duration {
	return FullJitter(Ceiling(base, limit, n))
}
