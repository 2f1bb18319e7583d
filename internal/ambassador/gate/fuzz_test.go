package gate

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// fuzzBodyLimit stands for the server's MaxRequestBodySize.
const fuzzBodyLimit = 1 << 20

// validSeeds are sound requests and streams of them.
var validSeeds = []string{
	typicalGET,
	"GET /a?b=c HTTP/1.1\r\nHost: a.example\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a.example\r\nContent-Length: 12\r\n\r\nhello\r\nworld",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nTrailer: X-Sum\r\n\r\n5;name=\"v\"\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 12\r\n\r\n",
	"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyzPUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nq\r\n0\r\n\r\n",
	"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
	"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /l HTTP/1.0\r\nHost: b\r\n\r\n",
	"GET http://A.Example:8080/x/%2e%2e/y?q HTTP/1.1\r\nHost: a.example:8080\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n\x16\x03\x01",
	"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
	"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /x HTTP/1.1\n\n",
	"GET / HTTP/1.1\r\nHost: \t a \t\r\nX-A: caf\xc3\xa9\r\nContent-Length:  0 \r\n\r\n",
	"HEAD /h HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
}

// FuzzGateAgainstNetHTTP feeds the same bytes to the gate followed by
// fasthttp's request parsing, configured as the server runs it, and to
// net/http's http.ReadRequest. It fails when the gate and fasthttp accept
// a request that net/http refuses, or when both accept it and disagree on
// method, host, path, request-target or body.
func FuzzGateAgainstNetHTTP(f *testing.F) {
	for _, h := range hostileRequests {
		f.Add([]byte(h.raw))
	}
	for _, p := range passedAttacks() {
		f.Add([]byte(p.raw))
	}
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		step := len(raw) // cut the stream into reads at points the input picks
		if len(raw) > 0 {
			step = 1 + int(raw[len(raw)-1])%64
		}
		g := Wrap(&feedConn{data: raw, step: step}, Options{MaxHeaderBytes: testMaxHeaderBytes})
		gbr := bufio.NewReaderSize(g, testMaxHeaderBytes+readBufferSlack)
		nbr := bufio.NewReader(bytes.NewReader(raw))
		for i := 1; ; i++ {
			fr, ok := readFasthttp(gbr)
			if !ok {
				return // refused by the gate or fasthttp: nothing reaches a handler
			}
			head, ok := g.Next()
			if !ok {
				t.Fatalf("request %d: fasthttp parsed %s %s, which the gate has no head for", i, fr.Header.Method(), fr.Header.RequestURI())
			}
			nr, body, err := readNetHTTP(nbr)
			if err != nil {
				t.Fatalf("request %d: the gate and fasthttp accept %s %q (Host %q), net/http refuses it: %v\ninput %q",
					i, head.Method, head.Target, head.Host, err, raw)
			}
			compare(t, i, head, fr, nr, body)
			if head.Method == "CONNECT" || head.Upgrade {
				return // what follows is tunnel data
			}
		}
	})
}

// readFasthttp reads one request as the server does (see Configure):
// names as sent, no path normalisation, the body up to the limit and not
// parsed as a form, the URI parsed.
func readFasthttp(br *bufio.Reader) (*fasthttp.Request, bool) {
	var r fasthttp.Request
	r.Header.DisableNormalizing()
	r.URI().DisablePathNormalizing = true
	if err := r.Header.Read(br); err != nil {
		return nil, false
	}
	if err := r.ContinueReadBody(br, fuzzBodyLimit, false); err != nil {
		return nil, false
	}
	var u fasthttp.URI
	u.DisablePathNormalizing = true
	if err := u.Parse(r.Header.Host(), r.Header.RequestURI()); err != nil {
		return nil, false
	}
	return &r, true
}

func readNetHTTP(br *bufio.Reader) (*http.Request, []byte, error) {
	r, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, errors.Join(errors.New("reading the body"), err)
	}
	return r, body, nil
}

// compare fails when the gate's head, fasthttp's request and net/http's
// request disagree on what the pipeline uses.
func compare(t *testing.T, i int, head Head, fr *fasthttp.Request, nr *http.Request, body []byte) {
	t.Helper()
	fail := func(what string, gate, other any) {
		t.Fatalf("request %d %s %q: %s: gate/fasthttp %q, net/http %q", i, head.Method, head.Target, what, gate, other)
	}
	if head.Method != nr.Method || string(fr.Header.Method()) != nr.Method {
		fail("method", head.Method+" / "+string(fr.Header.Method()), nr.Method)
	}
	if head.Target != nr.RequestURI || string(fr.Header.RequestURI()) != nr.RequestURI {
		fail("request-target", head.Target+" / "+string(fr.Header.RequestURI()), nr.RequestURI)
	}
	if host := effectiveHost(head); !strings.EqualFold(host, nr.Host) {
		fail("host", host, nr.Host)
	}
	if p := pipelinePath(head); p != nr.URL.Path {
		fail("path", p, nr.URL.Path)
	}
	if !bytes.Equal(fr.Body(), body) {
		fail("body", fr.Body(), body)
	}
	if !head.Chunked && head.ContentLength != int64(len(body)) && nr.Method != "HEAD" {
		fail("Content-Length", head.ContentLength, len(body))
	}
}

// effectiveHost is the host the pipeline routes on: the authority of a
// CONNECT or absolute-form target (the pipeline checks it against Host),
// else Host.
func effectiveHost(h Head) string {
	if h.Method == "CONNECT" {
		return h.Target
	}
	if h.Target[0] != '/' && h.Target != "*" {
		if u, err := url.ParseRequestURI(h.Target); err == nil {
			return u.Host
		}
	}
	return h.Host
}

// pipelinePath is the path the pipeline uses for a head.
func pipelinePath(h Head) string {
	t := h.Target
	if h.Method == "CONNECT" {
		t = "http://" + t
	}
	u, err := url.ParseRequestURI(t)
	if err != nil {
		return "(unparsable: " + err.Error() + ")"
	}
	return u.Path
}
