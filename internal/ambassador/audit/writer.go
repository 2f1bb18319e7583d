package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
				l.flushBatch(b)
				return
			}
			if len(b.buf) == 0 {
				timer.Reset(l.interval)
			}
			b.buf = append(b.buf, *line...)
			b.lines++
			putLine(line)
			if len(b.buf) >= batchBytes {
				l.flushBatch(b)
				timer.Stop()
			}
		case <-timer.C:
			l.flushBatch(b)
		}
	}
}

type batch struct {
	buf   []byte
	lines int
}

// flushBatch writes the batch and empties it, keeping the first error for
// Close.
func (l *Logger) flushBatch(b *batch) {
	if err := l.write(b.buf, b.lines); err != nil && l.firstErr == nil {
		l.firstErr = err
	}
	b.buf, b.lines = b.buf[:0], 0
	if cap(b.buf) > 4*batchBytes {
		b.buf = make([]byte, 0, batchBytes)
	}
}

// Write retries: a failed or short write is retried from the first byte not
// written, writeAttempts times in all, waiting retryWait, then 4×, 16× as
// long between tries (about 0.2 s in all), so a sink that fails for a
// moment loses nothing.
const (
	writeAttempts = 4
	retryWait     = 10 * time.Millisecond
)

// errShortWrite is a Write that wrote less than asked without saying why.
var errShortWrite = errors.New("short write")

// write writes buf, which holds lines whole lines, retrying as above. Lines
// that still could not be written are counted as dropped; when a line was
// cut short, a newline ends it, so the next line starts on a line of its
// own. A broken stdout must not stop the proxy: write always returns, and
// the error is the first one seen, for Close.
func (l *Logger) write(buf []byte, lines int) error {
	if len(buf) == 0 {
		return nil
	}
	if l.torn {
		// the last failed write cut a line short: end it first.
		if _, err := writeAll(l.w, []byte{'\n'}); err == nil {
			l.torn = false
		}
	}
	var (
		off      int
		firstErr error
		wait     = retryWait
	)
	for attempt := 1; ; attempt++ {
		n, err := writeAll(l.w, buf[off:])
		off += n
		if err == nil {
			break
		}
		l.metrics.writeErrors.Inc()
		if firstErr == nil {
			firstErr = fmt.Errorf("audit: write: %w", err)
		}
		if attempt == writeAttempts {
			break
		}
		time.Sleep(wait)
		wait *= 4
	}
	written := bytes.Count(buf[:off], []byte{'\n'})
	l.metrics.lines.Add(float64(written))
	if lost := lines - written; lost > 0 {
		l.metrics.dropped.Add(float64(lost))
		l.torn = off > 0 && buf[off-1] != '\n'
	}
	return firstErr
}

// writeAll writes p, continuing after short writes that report no error,
// and returns the bytes written.
func writeAll(w io.Writer, p []byte) (int, error) {
	var n int
	for n < len(p) {
		m, err := w.Write(p[n:])
		if m < 0 || m > len(p)-n {
			return n, fmt.Errorf("writer returned %d for %d bytes", m, len(p)-n)
		}
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, errShortWrite
		}
	}
	return n, nil
}
