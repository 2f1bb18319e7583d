package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
)

// recorder remembers the status and counts the bytes of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	reason string
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if r.wrote {
		return
	}
	if code >= 200 {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// code is the status logged: what was sent, 499 for a vanished client.
func (r *recorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// countingBody counts the request body bytes read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// idSource makes request ids: a random per-process prefix and a counter.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func (s *idSource) init() {
	var b [6]byte
	rand.Read(b[:])
	s.prefix = hex.EncodeToString(b[:]) + "-"
}

func (s *idSource) next() string {
	var buf [32]byte
	out := append(buf[:0], s.prefix...)
	return string(strconv.AppendUint(out, s.n.Add(1), 10))
}
