package gate

import (
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
	"time"
)

// feedConn is a net.Conn whose reads return data at most step bytes at a
// time; writes are kept.
type feedConn struct {
	net.Conn // nil: only Read, Write and Close are called
	data     []byte
	step     int
	written  []byte
}

func (f *feedConn) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), f.step)], f.data)
	f.data = f.data[n:]
	return n, nil
}

func (f *feedConn) Write(p []byte) (int, error) {
	f.written = append(f.written, p...)
	return len(p), nil
}
func (f *feedConn) Close() error { return nil }

func (f *feedConn) SetDeadline(time.Time) error      { return nil }
func (f *feedConn) SetReadDeadline(time.Time) error  { return nil }
func (f *feedConn) SetWriteDeadline(time.Time) error { return nil }

// gateRun is what a gate made of a byte stream.
type gateRun struct {
	released string
	heads    []Head
	refusal  *Error
}

// runGate reads raw through a gate, step bytes per read from below and
// into a buffer of size bufSize above, until EOF or the refusal.
func runGate(raw []byte, step, bufSize int) gateRun {
	g := Wrap(&feedConn{data: raw, step: step}, Options{MaxHeaderBytes: testMaxHeaderBytes})
	var out gateRun
	buf := make([]byte, bufSize)
	for {
		n, err := g.Read(buf)
		out.released += string(buf[:n])
		if err != nil {
			errors.As(err, &out.refusal)
			break
		}
	}
	for h, ok := g.Next(); ok; h, ok = g.Next() {
		out.heads = append(out.heads, h)
	}
	return out
}

// TestSplitReadsScanAlike: how the stream is cut into reads changes
// nothing the gate decides or hands on.
func TestSplitReadsScanAlike(t *testing.T) {
	var raws []string
	for _, h := range hostileRequests {
		raws = append(raws, h.raw)
	}
	for _, v := range passedAttacks() {
		raws = append(raws, v.raw)
	}
	raws = append(raws, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\nPUT /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nwxyzGET /4 HTTP/1.0\r\n\r\n")
	for _, raw := range raws {
		whole := runGate([]byte(raw), len(raw), 64<<10)
		if whole.refusal == nil && len(whole.heads) == 0 {
			t.Errorf("%.60q: no head and no refusal", raw)
		}
		for _, step := range []int{1, 2, 3, 7, 64} {
			for _, bufSize := range []int{1, 5, 4096} {
				got := runGate([]byte(raw), step, bufSize)
				if !reflect.DeepEqual(got, whole) {
					t.Errorf("%.60q in reads of %d into %d: released %.80q heads %+v refusal %+v, want %.80q %+v %+v",
						raw, step, bufSize, got.released, got.heads, got.refusal, whole.released, whole.heads, whole.refusal)
				}
			}
		}
	}
}

func TestRefusalIsAnsweredOnceByClose(t *testing.T) {
	f := &feedConn{data: []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\nHost: a\n\n"), step: 4096}
	calls := 0
	g := Wrap(f, Options{OnReject: func(*Conn, *Error) { calls++ }})
	buf := make([]byte, 4096)
	n, err := g.Read(buf)
	if err != nil || string(buf[:n]) != "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1" {
		t.Fatalf("first read %q %v", buf[:n], err)
	}
	if _, err := g.Read(buf); err == nil || g.Refusal() == nil {
		t.Fatalf("second read: %v, want the refusal", err)
	}
	g.Close()
	g.Close()
	want := "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Meshlite-Reason: bare LF in the request line\r\n" +
		"Content-Length: 28\r\nConnection: close\r\n\r\nbare LF in the request line\n"
	if string(f.written) != want || calls != 1 {
		t.Errorf("wrote %q with %d OnReject calls, want %q once", f.written, calls, want)
	}
}

func TestReasonIsPrintableAndBounded(t *testing.T) {
	long := make([]byte, 2000)
	for i := range long {
		long[i] = byte(i)
	}
	r := refuse("value %s and %s", quote(long), string(long))
	if len(r.Reason) > maxReason {
		t.Errorf("reason of %d bytes", len(r.Reason))
	}
	for i := 0; i < len(r.Reason); i++ {
		if c := r.Reason[i]; c < 0x20 || c > 0x7e {
			t.Fatalf("reason has byte %#x", c)
		}
	}
}

func TestRefusalInABodyIsLeftToItsRequest(t *testing.T) {
	f := &feedConn{data: []byte("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nabcde\n0\n\n"), step: 4096}
	g := Wrap(f, Options{})
	buf := make([]byte, 4096)
	for {
		if _, err := g.Read(buf); err != nil {
			break
		}
	}
	if _, ok := g.Next(); !ok || g.Refusal() == nil {
		t.Fatalf("want the head handed on and the body refused")
	}
	g.Close()
	if len(f.written) != 0 {
		t.Errorf("Close answered a refusal whose request the handler has: %q", f.written)
	}
}
