package audit

import (
	"fmt"
	"time"
)

// run is the single writer goroutine: it gathers queued lines into a batch
// and writes the batch when the queue is empty, the batch is large, or the
// batch has waited FlushInterval; it ends when the queue is closed and empty.
func (l *Logger) run() {
	defer close(l.done)
	b := &batch{buf: make([]byte, 0, batchBytes)}
	last := time.Now()
	for line := range l.queue {
		if len(b.buf)+len(*line) > batchBytes && len(b.buf) > 0 {
			l.flush(b)
			last = time.Now()
		}
		b.buf = append(b.buf, *line...)
		b.lines++
		putLine(line)
		if len(l.queue) == 0 || time.Since(last) >= l.interval {
			l.flush(b)
			last = time.Now()
		}
	}
	l.flush(b)
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
