package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"time"

	"github.com/valyala/fasthttp"
)

// try makes try number n: it picks an address, takes a connection from
// that endpoint's pool (dialling one if none is idle) and exchanges the
// request for a response head on it.
func (k *clientCall) try(n int) outcome {
	k.c.begin(n)
	ep := k.c.pick()
	hc := k.cl.pool(k.target.Host, ep, k.tls)
	k.record(n, hc.Addr) // the endpoint, made into text once per pool
	dl := k.tryDeadline()
	for {
		timeout := time.Until(dl)
		if timeout <= 0 {
			return k.classify(fasthttp.ErrTimeout)
		}
		cc, err := hc.AcquireConn(timeout, k.req.ConnectionClose())
		if err != nil {
			o := k.classify(err)
			if o.kind == kindConnectFailure {
				k.c.markFailed(ep)
			}
			return o
		}
		release := func(discard bool) {
			if discard {
				hc.CloseConn(cc)
			} else {
				hc.ReleaseConn(cc)
			}
		}
		reused := !cc.LastUseTime().IsZero()
		if reused && unsolicited(cc.Conn()) {
			// The upstream sent something (or closed) while the connection
			// sat in the pool: it is no answer to this request.
			hc.CloseConn(cc)
			continue
		}
		o, stale := k.exchange(hc, cc.Conn(), release, dl, reused)
		if !stale {
			return o
		}
	}
}

// exchange writes the request on conn and reads the response head, within
// dl. It returns stale when conn was a pooled connection the upstream had
// closed and the request can be sent again on another one, as net/http
// does: nothing of a response arrived, and the request either was not
// written or is safe to repeat.
func (k *clientCall) exchange(hc *fasthttp.HostClient, conn net.Conn, release func(bool), dl time.Time, reused bool) (o outcome, stale bool) {
	if !k.use(conn) {
		release(true)
		return k.classify(errAborted), false
	}
	conn.SetDeadline(dl)
	bw := hc.AcquireWriter(conn)
	err := k.req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		k.use(nil)
		release(true)
		return k.classify(err), k.mayResend(err, reused, true)
	}
	br := hc.AcquireReader(conn)
	if err := k.readHead(br); err != nil {
		hc.ReleaseReader(br)
		k.use(nil)
		release(true)
		if _, ok := err.(*fasthttp.ErrSmallBuffer); ok {
			err = fmt.Errorf("response head over %d bytes: %w", respBufferSize, err)
		}
		return k.classify(err), k.mayResend(err, reused, false)
	}
	k.resp.ParseNetConn(conn)
	k.body = k.readBody(hc, br, conn, release)
	return outcome{kind: kindResponse, status: k.resp.StatusCode()}, false
}

var (
	errAborted       = errors.New("upstream: call aborted")
	errUnaskedSwitch = errors.New("upstream answered 101 Switching Protocols to a request that asked for no protocol switch")
)

// mayResend reports whether a try that failed with err on a pooled
// connection before any response arrived may be made again at once on
// another connection, without counting as a try.
func (k *clientCall) mayResend(err error, reused, writing bool) bool {
	if !reused || !k.replayable || isTimeout(err) || !k.live() || k.isAborted() {
		return false
	}
	if writing {
		return true
	}
	switch string(k.req.Header.Method()) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// readHead reads the response head, skipping interim (1xx) responses.
func (k *clientCall) readHead(br *bufio.Reader) error {
	k.resp.Reset()
	k.resp.Header.DisableNormalizing()
	for range 100 {
		if err := checkFieldNames(br); err != nil {
			return err
		}
		if err := k.resp.Header.Read(br); err != nil {
			return err
		}
		s := k.resp.StatusCode()
		if s == fasthttp.StatusSwitchingProtocols {
			// Do sends no request that asks for a switch (errUpgrade): a 101
			// would make the rest of the connection something else.
			return errUnaskedSwitch
		}
		if s >= 200 {
			return nil
		}
	}
	return errors.New("too many interim (1xx) responses")
}

// checkFieldNames refuses an answer head with whitespace between a field
// name and its colon ("Set-Cookie : x"), which net/http's client refuses
// and fasthttp's parser would pass on as a clean field. It looks at the
// head in br's buffer, waiting for more bytes only as Header.Read would;
// a head too large for the buffer is left to Read to refuse.
func checkFieldNames(br *bufio.Reader) error {
	if _, err := br.Peek(1); err != nil {
		return nil // Read reports it
	}
	for {
		b, _ := br.Peek(br.Buffered())
		if end := headEnd(b); end >= 0 {
			return scanFieldNames(b[:end])
		}
		if br.Buffered() >= br.Size() {
			return nil
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return nil
		}
	}
}

// headEnd is where the blank line that ends a head starts, or -1.
func headEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i
	}
	return bytes.Index(b, []byte("\n\n"))
}

func scanFieldNames(head []byte) error {
	_, fields, _ := bytes.Cut(head, []byte("\n")) // after the status line
	for line := range bytes.SplitSeq(fields, []byte("\n")) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if ok && len(name) > 0 && name[0] != ' ' && name[0] != '\t' &&
			(name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
			return fmt.Errorf("upstream answer has whitespace before the colon of field %q", bytes.TrimSpace(name))
		}
	}
	return nil
}

// bodyDeadline bounds reading the body: the call's timeout (not the
// per-try one, which ends with the headers), or ctx's deadline.
func (k *clientCall) bodyDeadline() time.Time {
	if k.hasCtxDeadline && k.ctxDeadline.Before(k.deadline) {
		return k.ctxDeadline
	}
	return k.deadline
}

// readBody puts the body in resp: read whole and the connection released
// when the body has no content or arrived with the head, else as a stream
// that holds the connection until it is closed.
func (k *clientCall) readBody(hc *fasthttp.HostClient, br *bufio.Reader, conn net.Conn, release func(bool)) *respStream {
	h := &k.resp.Header
	size := h.ContentLength()
	closeConn := k.req.ConnectionClose() || k.resp.ConnectionClose() || size == -2
	s := k.resp.StatusCode()
	if k.req.Header.IsHead() || s < 200 || s == fasthttp.StatusNoContent || s == fasthttp.StatusNotModified {
		size = 0
		closeConn = closeConn || s == fasthttp.StatusSwitchingProtocols
	}
	if size >= 0 && size <= br.Buffered() {
		if size > 0 {
			b, _ := br.Peek(size)
			k.resp.SetBody(b)
			br.Discard(size)
		}
		// Bytes after the answer are no answer to anything this connection
		// will send: it is not reused.
		closeConn = closeConn || br.Buffered() > 0
		hc.ReleaseReader(br)
		k.use(nil)
		release(closeConn)
		return nil
	}
	conn.SetReadDeadline(k.bodyDeadline()) // the body is read within the call's time, not the try's
	rs := &respStream{k: k, hc: hc, br: br, conn: conn, release: release, closeConn: closeConn}
	switch {
	case size >= 0:
		rs.r = &fixedBody{br: br, left: int64(size)}
	case size == -1:
		rs.r = &chunkedBody{br: br, r: httputil.NewChunkedReader(br)}
	default:
		rs.r = br
	}
	k.resp.SetBodyStream(rs, size)
	return rs
}

// discard drops a response that will be retried: a little of its body is
// read (at most maxDrain, for at most drainTimeout) so that its connection
// can be reused.
func (k *clientCall) discard() {
	if rs := k.body; rs != nil && !rs.closed {
		rs.conn.SetReadDeadline(minTime(time.Now().Add(drainTimeout), k.bodyDeadline()))
		io.CopyN(io.Discard, rs, maxDrain)
		rs.Close()
	}
	k.body = nil
	k.resp.Reset()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// respStream is a response body read from the connection as the caller
// reads it. Reads that fail because the call ran out of time report the
// *TimeoutError, and those cut short by ctx ending report ctx's error.
// Closing it returns the connection to its pool when the body was read to
// its end, and closes the connection otherwise.
type respStream struct {
	k         *clientCall
	hc        *fasthttp.HostClient
	br        *bufio.Reader
	conn      net.Conn
	r         io.Reader // the body's framing over br
	release   func(discard bool)
	closeConn bool // the connection cannot be reused
	eof       bool
	closed    bool
}

func (s *respStream) Read(p []byte) (int, error) {
	if s.closed {
		return 0, io.ErrClosedPipe
	}
	n, err := s.r.Read(p)
	switch {
	case err == io.EOF:
		s.eof = true
	case err != nil:
		s.closeConn = true
		err = s.k.bodyError(err)
	}
	return n, err
}

// Close releases the connection; it may be called more than once.
func (s *respStream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.k.use(nil)
	extra := s.br.Buffered() > 0 // bytes after the answer: not reused
	s.hc.ReleaseReader(s.br)
	s.release(s.closeConn || !s.eof || extra)
	return nil
}

// bodyError is the error of a body read that failed with err.
func (k *clientCall) bodyError(err error) error {
	if cerr := k.ctx.Err(); cerr != nil && k.isAborted() {
		return cerr
	}
	if isTimeout(err) {
		now := time.Now()
		if k.hasCtxDeadline && !now.Before(k.ctxDeadline) {
			return context.DeadlineExceeded
		}
		if !now.Before(k.deadline) {
			return &TimeoutError{Timeout: k.pol.Timeout}
		}
	}
	return err
}

// fixedBody reads a body of known length.
type fixedBody struct {
	br   *bufio.Reader
	left int64
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if b.left == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// chunkedBody reads a chunked body and, at its end, the trailer section
// (dropped), so that the connection is left at the next response.
type chunkedBody struct {
	br  *bufio.Reader
	r   io.Reader
	end error // sticky once the body ended
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	if b.end != nil {
		return 0, b.end
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = skipTrailer(b.br)
		b.end = err
	}
	return n, err
}

// skipTrailer reads trailer fields up to the empty line that ends them;
// it returns io.EOF when it reached that line.
func skipTrailer(br *bufio.Reader) error {
	for range 1000 {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) <= 2 && (string(line) == "\r\n" || string(line) == "\n") {
			return io.EOF
		}
	}
	return errors.New("upstream: too many trailer fields")
}
