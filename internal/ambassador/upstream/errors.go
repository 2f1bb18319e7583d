package upstream

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DialError reports that no connection could be made to the upstream:
// refused, unreachable, dial timeout, TLS handshake or certificate failure,
// or no address to dial. The proxy answers 502.
type DialError struct {
	Addr string // "ip:port" dialled last, or the host name when there was no address
	Err  error
	// Others is how many other addresses of the target could not be
	// connected to in the same call.
	Others int
}

func (e *DialError) Error() string {
	msg := "upstream: dial " + e.Addr + ": " + e.Err.Error()
	switch {
	case e.Others == 1:
		msg += " (and 1 other address of the target failed)"
	case e.Others > 1:
		msg += fmt.Sprintf(" (and %d other addresses of the target failed)", e.Others)
	}
	return msg
}
func (e *DialError) Unwrap() error { return e.Err }

// TimeoutError reports that the call (PerTry false) or its last try
// (PerTry true) ran out of time. The proxy answers 504.
type TimeoutError struct {
	Timeout time.Duration
	PerTry  bool
}

func (e *TimeoutError) Error() string {
	if e.PerTry {
		return fmt.Sprintf("upstream: per-try timeout %s exceeded", e.Timeout)
	}
	return fmt.Sprintf("upstream: timeout %s exceeded", e.Timeout)
}

// Is makes errors.Is(err, context.DeadlineExceeded) hold for timeouts.
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

var (
	errNoAddress = errors.New("no checked address to dial")
)
