package audit

import (
	"fmt"
	"time"
)

// run is the single writer goroutine: it gathers queued lines into a batch
// and writes the batch when it is large or when its first line has waited
// FlushInterval, so a steady trickle of requests costs one write per
// interval, not one per line. It ends when the queue is closed and empty.
func (l *Logger) run() {
	defer close(l.done)
	b := &batch{buf: make([]byte, 0, batchBytes)}
	timer := time.NewTimer(l.interval)
	timer.Stop()
	for {
		select {
		case line, ok := <-l.queue:
			if !ok {
				l.flush(b)
				return
			}
			if len(b.buf) == 0 {
				timer.Reset(l.interval)
			}
			b.buf = append(b.buf, *line...)
			b.lines++
			putLine(line)
			if len(b.buf) >= batchBytes {
				l.flush(b)
				timer.Stop()
			}
		case <-timer.C:
			l.flush(b)
		}
	}
}

type batch struct {
	buf   []byte
	lines int
}

// flush writes the batch. A failed write is counted and its lines are lost,
// but the writer carries on with the next batch: a broken stdout must not
// stop the proxy.
func (l *Logger) flush(b *batch) {
	if len(b.buf) == 0 {
		return
	}
	n, err := l.w.Write(b.buf)
	if err == nil && n < len(b.buf) {
		err = fmt.Errorf("short write of %d of %d bytes", n, len(b.buf))
	}
	if err != nil {
		l.metrics.writeErrors.Inc()
		if l.firstErr == nil {
			l.firstErr = fmt.Errorf("audit: write: %w", err)
		}
	} else {
		l.metrics.lines.Add(float64(b.lines))
	}
	b.buf, b.lines = b.buf[:0], 0
	if cap(b.buf) > 4*batchBytes {
		b.buf = make([]byte, 0, batchBytes)
	}
}
