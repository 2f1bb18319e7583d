package gate

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// loopConn returns data on every read, as a client that never stops.
type loopConn struct{ feedConn }

func (l *loopConn) Read(p []byte) (int, error) { return copy(p, l.data), nil }

// typicalGET is a 200-byte GET head as a browser-less client sends it.
var typicalGET = "GET /api/v1/items?page=2&sort=name HTTP/1.1\r\nHost: numbers-api.default.svc:8080\r\n" +
	"User-Agent: meshlite-bench/1.0\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\nX-Request-Id: 7f3c2a\r\n\r\n"

var benchStreams = []struct{ name, data string }{
	{"GET", typicalGET},
	{"pipelined-16-GET", strings.Repeat(typicalGET, 16)},
	{"absolute-form-GET", strings.Replace(typicalGET, "/api/", "http://numbers-api.default.svc:8080/api/", 1)},
	{"POST-1KiB", strings.Replace(typicalGET, "GET", "POST", 1)[:len(typicalGET)-1] + "Content-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024)},
	{"chunked-4x256", strings.Replace(typicalGET, "GET", "POST", 1)[:len(typicalGET)-1] + "Transfer-Encoding: chunked\r\n\r\n" +
		strings.Repeat("100\r\n"+strings.Repeat("y", 256)+"\r\n", 4) + "0\r\n\r\n"},
}

// BenchmarkGate measures the gate over whole reads of typical streams:
// each op is one read of the stream and taking its heads.
func BenchmarkGate(b *testing.B) {
	for _, s := range benchStreams {
		b.Run(s.name, func(b *testing.B) {
			g := Wrap(&loopConn{feedConn{data: []byte(s.data)}}, Options{})
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(s.data)))
			b.ReportAllocs()
			for b.Loop() {
				n, err := g.Read(buf)
				if err != nil || n != len(s.data) {
					b.Fatalf("read %d %v", n, err)
				}
				for _, ok := g.Next(); ok; _, ok = g.Next() {
				}
			}
		})
	}
}

// BenchmarkFasthttpHeader is fasthttp's own head parsing of the typical
// GET, for scale: the gate runs before it, not instead of it.
func BenchmarkFasthttpHeader(b *testing.B) {
	var h fasthttp.RequestHeader
	h.DisableNormalizing()
	r := bytes.NewReader([]byte(typicalGET))
	br := bufio.NewReader(r)
	b.SetBytes(int64(len(typicalGET)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset([]byte(typicalGET))
		br.Reset(r)
		if err := h.Read(br); err != nil {
			b.Fatal(err)
		}
	}
}
