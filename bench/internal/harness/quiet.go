package harness

import (
	"context"
	"time"
)

// quietWindow is how long other work is sampled per check.
const quietWindow = 2 * time.Second

// WaitQuiet waits, for at most limit, until processes outside this
// benchmark use less than threshold of the machine over a 2 s window. It
// returns the last share seen and whether the machine was quiet.
func WaitQuiet(ctx context.Context, limit time.Duration, threshold float64) (float64, bool) {
	deadline := time.Now().Add(limit)
	share := -1.0
	for {
		var o otherWork
		o.start()
		select {
		case <-ctx.Done():
			return share, false
		case <-time.After(quietWindow):
		}
		o.stop()
		if share = o.share(); share >= 0 && share < threshold {
			return share, true
		}
		if time.Now().Add(quietWindow).After(deadline) {
			return share, false
		}
	}
}
