package upstream

import "time"

const (
	// maxReplayBody is the largest request body buffered for replay.
	maxReplayBody = 64 << 10
	// maxDrain bounds what is read from a response that is retried, so its
	// connection can be reused.
	maxDrain = 4 << 10
	// drainTimeout bounds how long draining a retried response may take.
	drainTimeout = 250 * time.Millisecond
)
