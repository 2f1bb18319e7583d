package gate

import (
	"strings"
	"testing"
)

// hostile is a request the gate refuses, with the status and a piece of
// the reason that names the problem.
type hostile struct {
	name, raw string
	status    int
	reason    string
}

const get = "GET / HTTP/1.1\r\nHost: a.example\r\n"

// hostileRequests: everything net/http's server refuses, fasthttp's
// leniencies, and every raw request of internal/ambassador/attack_test.go
// and internal/capturetest/attack_test.go that must not reach a handler.
var hostileRequests = []hostile{
	// framing
	{"content-length with chunked (attack: chunked wins)", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"},
	{"chunked before content-length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", 400, "both Content-Length and Transfer-Encoding"},
	{"two different content-lengths (attack)", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400, `header "Content-Length" given twice`},
	{"two equal content-lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nabcde", 400, `header "Content-Length" given twice`},
	{"content-length list (attack)", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5, 5\r\n\r\nabcde", 400, `Content-Length "5, 5" is not a plain decimal`},
	{"signed content-length (attack)", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nContent-Length: +5\r\n\r\nabcde", 400, `Content-Length "+5" is not a plain decimal`},
	{"negative content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "not a plain decimal"},
	{"hex content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nabcde", 400, "not a plain decimal"},
	{"empty content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400, `Content-Length "" is not a plain decimal`},
	{"content-length over int64", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400, "not a plain decimal"},
	{"chunked plus identity (attack)", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501, `Transfer-Encoding "chunked, identity" is not supported`},
	{"unknown transfer coding (attack)", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, `Transfer-Encoding "xchunked" is not supported`},
	{"identity transfer coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501, "not supported"},
	{"gzip then chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, "not supported"},
	{"transfer-encoding twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, `header "Transfer-Encoding" given twice`},
	{"transfer-encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"},
	{"space before the colon (attack)", "POST /api/s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, `whitespace before the colon in header "Transfer-Encoding"`},
	{"tab before the colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, `whitespace before the colon in header "Host"`},
	{"Trailer announcing Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nTrailer: X-A, content-length\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, `Trailer header announces "content-length"`},

	// chunked bodies (attack: client body errors)
	{"chunk size not hex (attack)", "POST /api/b HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, "chunk-size line starts with 'z'"},
	{"chunk size too long (attack)", "POST /api/b HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nfffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400, "chunk size over 15 hex digits"},
	{"bare LF chunk framing (attack)", "POST /api/b HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\nabcde\n0\n\n", 400, "bare LF in a chunk-size line"},
	{"bare CR in a chunk-size line", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n", 400, "bare CR in a chunk-size line"},
	{"space after the chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400, "invalid space in a chunk size"},
	{"chunk data longer than its size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400, "chunk data longer than its size"},
	{"bare LF after chunk data", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 400, "chunk data longer than its size"},
	{"bare CR after chunk data", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rx0\r\n\r\n", 400, "bare CR after chunk data"},
	{"control character in a chunk extension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n", 400, "control character byte 0x01 in a chunk extension"},
	{"bare LF in a chunk extension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a\nabc\r\n0\r\n\r\n", 400, "bare LF in a chunk extension"},
	{"obs-fold in a trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n b\r\n\r\n", 400, `obs-fold continuation line in trailer "X-T"`},
	{"Content-Length as a trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n", 400, `field "Content-Length" is not allowed in a trailer section`},
	{"chunk extensions over the line limit", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", 4096) + "\r\nx\r\n0\r\n\r\n", 400, "chunk extensions over 4000 bytes"},
	{"chunk extensions adding up (net/http: too much non-data)", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strings.Repeat("1;"+strings.Repeat("e", 100)+"\r\nx\r\n", 200) + "0\r\n\r\n", 400, "chunked body with too much framing"},
	{"bare LF ending the trailers", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n\n", 400, "bare LF ending a line of the trailer section"},

	// field lines
	{"obs-fold (attack: is unfolded)", "GET /api/s HTTP/1.1\r\nHost: localhost\r\nX-Fold: a\r\n b\r\nConnection: close\r\n\r\n", 400, `obs-fold continuation line in header "X-Fold"`},
	{"obs-fold with a tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n\tb\r\n\r\n", 400, `obs-fold continuation line in header "X-A"`},
	{"whitespace before the first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "whitespace before the first header field"},
	{"bare CR inside a header (attack)", "GET /api/s HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n", 400, `bare CR in header "X-A"`},
	{"bare LF ending a header", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400, `bare LF in header "Host"`},
	{"bare LF blank line", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF ending a line of the header section"},
	{"bare CR blank line", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400, "bare CR in the blank line ending the header section"},
	{"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", 400, `control character byte 0x00 in header "X-A"`},
	{"DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb\r\n\r\n", 400, `control character byte 0x7f in header "X-A"`},
	{"escape in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x1b[31m\r\n\r\n", 400, "control character byte 0x1b"},
	{"quote in a header name", "GET / HTTP/1.1\r\nHost: a\r\nX\"A: b\r\n\r\n", 400, `invalid '"' in header name "X"`},
	{"non-ASCII header name", "GET / HTTP/1.1\r\nHost: a\r\nX-\xc3\xa9: b\r\n\r\n", 400, "invalid byte 0xc3 in header name"},
	{"space inside a header name", "GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400, `whitespace before the colon in header "X"`},
	{"header line without a colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, `header line "NoColon" has no colon`},
	{"empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400, "header line with an empty field name"},

	// Host
	{"missing Host in HTTP/1.1", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400, "missing Host header"},
	{"two Host headers (attack)", "GET /api/s HTTP/1.1\r\nHost: localhost\r\nHost: evil.invalid\r\n\r\n", 400, `header "Host" given twice`},
	{"two equal Host headers in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400, `header "Host" given twice`},
	{"empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, "empty Host header"},
	{"space in Host (capture: door slots)", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, `invalid Host header "a b"`},
	{"slash in Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host header"},
	// An absolute-form or CONNECT target whose host differs from Host, and
	// a CONNECT target that is no usable host:port, pass the gate: the
	// pipeline refuses them once it has normalised both (the ambassador's
	// attack tests and the proxy's tests hold those cases).
	{"absolute-form without authority", "GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, `absolute-form request-target "http:/x" has no host`},
	{"opaque absolute-form", "GET mailto:a@b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "has no host"},
	{"unbalanced bracket (attack)", "GET http://[::1/ HTTP/1.1\r\nHost: evil.invalid\r\nConnection: close\r\n\r\n", 400, `request-target "http://[::1/" is not a valid URI`},

	// request line
	{"empty line before the request line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "empty line before the request line"},
	{"bare LF before the request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "empty line before the request line"},
	{"bare LF in the request line", "GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF in the request line"},
	{"bare CR in the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR in the request line"},
	{"two spaces after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "space where the request-target should start"},
	{"two spaces before the version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, "malformed HTTP version"},
	{"space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "malformed HTTP version"},
	{"tab as a separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid tab in the method"},
	{"NUL in the target", "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "byte 0x00 in the request-target"},
	{"DEL in the target", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "byte 0x7f in the request-target"},
	{"quote in the method (attack)", "GE\"T /api/m HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 400, `invalid '"' in the method`},
	{"HTTP/0.9 (attack)", "GET /api/m\r\n\r\n", 400, "no HTTP version"},
	{"HTTP/2.0 request line (attack)", "GET /api/m HTTP/2.0\r\nHost: localhost\r\n\r\n", 505, `HTTP version "HTTP/2.0" not supported`},
	{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, `HTTP version "HTTP/1.2" not supported`},
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, `malformed HTTP version "http/1.1"`},
	{"long version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "malformed HTTP version"},
	{"h2c preface (attack, capture)", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", 400, "HTTP/2 connection preface"},
	{"bad percent-encoding in the path", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400, `invalid percent-encoding in the request-target path "/a%zz"`},
	{"percent at the end of the path", "GET /a% HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid percent-encoding"},
	{"asterisk-form with GET (attack)", "GET * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 400, `request-target "*" is only for OPTIONS, not "GET"`},
	{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, `request-target "a/b" is not a valid URI`},
	{"CONNECT in origin-form", "CONNECT /x HTTP/1.1\r\nHost: a:443\r\n\r\n", 400, `CONNECT request-target "/x" is not host:port`},
	{"CONNECT with userinfo", "CONNECT u@a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 400, "is not host:port"},
	{"CONNECT with a path", "CONNECT a.example:443/x HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 400, "is not host:port"},

	// not HTTP at all (capture: TLS, DNS over TCP, raw TCP payloads)
	{"TLS ClientHello (capture)", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400, "request line starts with byte 0x16, not a method"},
	{"DNS over TCP (capture)", "\x00\x1d\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01", 400, "request line starts with byte 0x00"},
	{"raw payload (capture: mapped)", "mapped leak\n", 400, "no HTTP version"},
	{"raw payload (capture: bound to lo)", "bound to lo\n", 400, "bare LF in the request line"},
	{"raw payload (capture: slots)", "slot\n", 400, "request line has no request-target"},

	// size
	{"header over the limit (attack)", get + "X-Big: " + strings.Repeat("a", 3*testMaxHeaderBytes) + "\r\n\r\n", 431, "request head over 8192 bytes"},
	{"request line over the limit (attack)", "GET /api/" + strings.Repeat("a", 3*testMaxHeaderBytes) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 431, "request head over 8192 bytes"},
	{"many small headers over the limit", get + strings.Repeat("X-A: b\r\n", testMaxHeaderBytes/8) + "\r\n", 431, "request head over"},
	{"trailers over the limit", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + strings.Repeat("X-T: b\r\n", testMaxHeaderBytes/8) + "\r\n", 431, "trailer section over 8192 bytes"},
}

func TestHostileRequestsAreRefused(t *testing.T) {
	g := startGated(t)
	for _, tc := range hostileRequests {
		t.Run(tc.name, func(t *testing.T) {
			before, rejected := len(g.served()), len(g.rejections())
			answers, closed := g.exchange(t, tc.raw, 1)
			checkRefusal(t, answers[0], tc.status, tc.reason)
			if !closed {
				t.Errorf("connection not closed after the refusal")
			}
			if seen := g.served()[before:]; len(seen) != 0 {
				t.Errorf("the handler was called: %+v", seen)
			}
			if r := g.rejections()[rejected:]; len(r) != 1 || r[0].Reason != answers[0].header.Get("X-Meshlite-Reason") {
				t.Errorf("OnReject saw %+v, want the one refusal", r)
			}
		})
	}
}

// checkRefusal asserts the shape of a refusal: status, the reason in
// X-Meshlite-Reason (printable ASCII, at most 512 bytes) and as the
// one-line body, text/plain, Connection: close.
func checkRefusal(t *testing.T, a answer, status int, reason string) {
	t.Helper()
	got := a.header.Get("X-Meshlite-Reason")
	if a.status != status || !strings.Contains(got, reason) {
		t.Fatalf("answer %d %q, want %d with a reason containing %q (body %q)", a.status, got, status, reason, a.body)
	}
	for i := 0; i < len(got); i++ {
		if c := got[i]; c < 0x20 || c > 0x7e {
			t.Errorf("reason has byte %#x: %q", c, got)
		}
	}
	if len(got) > maxReason || a.body != got+"\n" {
		t.Errorf("body %q, want the reason %q as one line (at most %d bytes)", a.body, got, maxReason)
	}
	if ct := a.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if !a.close {
		t.Errorf("no Connection: close")
	}
}
