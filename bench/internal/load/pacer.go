package load

import (
	"os"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/sys/unix"
)

// timerPacer keeps vegeta's constant-rate schedule but waits for each send
// time on a timerfd parked in the runtime's network poller. The attacker
// would otherwise time.Sleep, which the Go runtime rounds up to whole
// milliseconds when it is otherwise idle: at 1,000 req/s every request would
// leave up to a millisecond late, and since open-loop latency is counted from
// the schedule, the load generator's lateness would be reported as latency.
type timerPacer struct {
	vegeta.ConstantPacer
	fd   int
	file *os.File
	buf  [8]byte
}

var _ vegeta.Pacer = (*timerPacer)(nil)

// newTimerPacer returns a precise pacer, or nil if timerfd is unavailable
// (then vegeta's own sleeping is used).
func newTimerPacer(p vegeta.ConstantPacer) *timerPacer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	return &timerPacer{ConstantPacer: p, fd: fd, file: os.NewFile(uintptr(fd), "meshbench-pacer")}
}

// Pace waits until the next send time itself and tells the attacker to send
// at once. If the timer fails it falls back to the attacker's sleep.
func (t *timerPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	wait, stop := t.ConstantPacer.Pace(elapsed, hits)
	if stop || wait <= 0 {
		return wait, stop
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(wait.Nanoseconds())}
	if err := unix.TimerfdSettime(t.fd, 0, &spec, nil); err != nil {
		return wait, false
	}
	if _, err := t.file.Read(t.buf[:]); err != nil {
		return wait, false
	}
	return 0, false
}

func (t *timerPacer) Close() error { return t.file.Close() }
