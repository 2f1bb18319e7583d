package gate

import (
	"fmt"
	"strings"
	"testing"
)

// want is the answer the test handler gives for a head and body.
func want(method, target, host, proto string, cl int64, chunked, upgrade bool, body string) string {
	return fmt.Sprintf("%s %s host=%q %s cl=%d chunked=%v upgrade=%v body=%q", method, target, host, proto, cl, chunked, upgrade, body)
}

func TestValidRequestsAreServedIntact(t *testing.T) {
	g := startGated(t)
	tests := []struct {
		name, raw string
		answers   []string
	}{
		{"GET", "GET /a?b=c HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
			[]string{want("GET", "/a?b=c", "a.example", "HTTP/1.1", 0, false, false, "")}},
		{"POST with Content-Length", "POST /p HTTP/1.1\r\nHost: a.example\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello\r\nworld",
			[]string{want("POST", "/p", "a.example", "HTTP/1.1", 12, false, false, "hello\r\nworld")}},
		{"chunked with extensions and trailers", "POST /c HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: Chunked\r\nTrailer: X-Sum\r\nConnection: close\r\n\r\n" +
			"5;name=\"v\"\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 12\r\n\r\n",
			[]string{want("POST", "/c", "a.example", "HTTP/1.1", -1, true, false, "hello, world")}},
		{"pipelined mix", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
			"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz" +
			"PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nq\r\n0\r\n\r\n" +
			"DELETE /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{
				want("GET", "/1", "a", "HTTP/1.1", 0, false, false, ""),
				want("POST", "/2", "a", "HTTP/1.1", 3, false, false, "xyz"),
				want("PUT", "/3", "a", "HTTP/1.1", -1, true, false, "q"),
				want("DELETE", "/4", "a", "HTTP/1.1", 0, false, false, ""),
			}},
		{"Expect: 100-continue", "POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
			[]string{"", want("POST", "/e", "a", "HTTP/1.1", 2, false, false, "ok")}},
		{"HTTP/1.0 keep-alive", "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /l HTTP/1.0\r\nHost: b\r\n\r\n",
			[]string{want("GET", "/k", "", "HTTP/1.0", 0, false, false, ""), want("GET", "/l", "b", "HTTP/1.0", 0, false, false, "")}},
		{"absolute-form matching Host in another case", "GET http://A.Example:8080/x HTTP/1.1\r\nHost: a.example:8080\r\nConnection: close\r\n\r\n",
			[]string{want("GET", "http://A.Example:8080/x", "a.example:8080", "HTTP/1.1", 0, false, false, "")}},
		{"spaces around values, obs-text in a value", "GET / HTTP/1.1\r\nHost: \t a \t\r\nX-A: caf\xc3\xa9\r\nContent-Length:  0 \r\nConnection: close\r\n\r\n",
			[]string{want("GET", "/", "a", "HTTP/1.1", 0, false, false, "")}},
		{"many one-byte chunks", "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + strings.Repeat("1\r\nz\r\n", 5000) + "0\r\n\r\n",
			[]string{want("POST", "/b", "a", "HTTP/1.1", -1, true, false, strings.Repeat("z", 5000))}},
		{"multipart body forwarded as sent, not parsed", "POST /m HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 48\r\nConnection: close\r\n\r\n" +
			"--XX\r\nContent-Disposition: form-data; name=a\r\n\r\n",
			[]string{want("POST", "/m", "a", "HTTP/1.1", 48, false, false, "--XX\r\nContent-Disposition: form-data; name=a\r\n\r\n")}},
		{"a head right at the limit", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX: " + strings.Repeat("a", testMaxHeaderBytes-len("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX: \r\n\r\n")) + "\r\n\r\n",
			[]string{want("GET", "/", "a", "HTTP/1.1", 0, false, false, "")}},
	}
	tests = append(tests, passedAttacks()...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			answers, closed := g.exchange(t, tc.raw, len(tc.answers))
			for i, a := range answers {
				if tc.answers[i] == "" {
					continue // the interim 100 Continue is skipped by ReadResponse
				}
				if a.status != 200 || a.body != tc.answers[i] {
					t.Errorf("answer %d: %d %q, want 200 %q", i+1, a.status, a.body, tc.answers[i])
				}
			}
			if !closed {
				t.Errorf("connection still open after the last request")
			}
		})
	}
}

// passedAttacks are the raw requests of the attack tests that are sound
// HTTP: the gate passes them on unchanged, for the policy to judge.
func passedAttacks() []struct {
	name, raw string
	answers   []string
} {
	var out []struct {
		name, raw string
		answers   []string
	}
	add := func(name, method, target, host, extra string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "Connection: close\r\n\r\n"
		out = append(out, struct {
			name, raw string
			answers   []string
		}{"attack: " + name, raw, []string{want(method, target, host, "HTTP/1.1", 0, false, false, "")}})
	}
	for _, p := range []string{
		"/api/../x", "/api/%2e%2e/x", "/api/%2E%2E/x", "/api%2f..%2fx", "/api/%2e%2e%2fx", `/api\..\x`, "//api",
		"/api/./../api/y", "/api/a%2fb", "/api?x=../../y", "/API", "/apix", "/api#frag",
		"/api/..;/x", "/api/..;jsessionid=1/x", `/api/..\x`, "/api/..%5cx", "/api/..%5c..%5cx",
		"/api/%c0%ae%c0%ae/x", "/api/x%00", "/api/%2e%2e;/x",
		"/api/%0a%0d%22%5c%00%e2%80%a8%ff", "/api/\xff\xfe\"q\"{}", "/nope/%0a{\"decision\":\"allow\"}",
		"/api/" + strings.Repeat("b", 3000),
	} {
		add(fmt.Sprintf("path %.40q", p), "GET", p, "localhost", "")
	}
	add("userinfo naming the Host", "GET", "http://user@evil.invalid/", "evil.invalid", "")
	add("origin form on the forward door", "GET", "/api", "evil.invalid", "")
	add("TRACE", "TRACE", "/api/m", "localhost", "")
	add("WebDAV", "PROPFIND", "/api/m", "localhost", "")
	add("lower-case method", "get", "/api/m", "localhost", "")
	add("OPTIONS *", "OPTIONS", "*", "localhost", "")
	add("hop-by-hop and forged headers", "GET", "/api/h", "localhost",
		"Connection: close, X-Meshlite-Reason, Host, X-Secret\r\nX-Secret: s\r\nX-Meshlite-Reason: forged\r\n"+
			"Proxy-Authorization: Basic dXNlcjpwYXNz\r\nProxy-Connection: keep-alive\r\nKeep-Alive: 5\r\n"+
			"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.invalid\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n")
	out = append(out, struct {
		name, raw string
		answers   []string
	}{"attack: HTTP/1.0 absolute-form without Host", "GET http://localhost:8080/api/m HTTP/1.0\r\n\r\n",
		[]string{want("GET", "http://localhost:8080/api/m", "", "HTTP/1.0", 0, false, false, "")}})
	return out
}

func TestBadRequestAfterGoodOnesIsAnsweredLast(t *testing.T) {
	g := startGated(t)
	good := "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"
	tests := []struct {
		name, bad string
		reason    string
	}{
		// refused inside the head: fasthttp's ErrorHandler answers it
		{"bare LF in the third head", "GET /3 HTTP/1.1\nHost: a\n\n", "bare LF in the request line"},
		{"smuggling in the third head", "POST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "both Content-Length"},
		// refused at its first byte: fasthttp closes quietly and Close answers
		{"TLS after two requests", "\x16\x03\x01\x00", "request line starts with byte 0x16"},
		{"empty line after two requests", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "empty line before the request line"},
		// refused in the body: fasthttp's ErrorHandler answers it
		{"bad chunk after two requests", "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nabcde\n0\n\n", "bare LF in a chunk-size line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			answers, closed := g.exchange(t, good+tc.bad+"GET /never HTTP/1.1\r\nHost: a\r\n\r\n", 3)
			if answers[0].body != want("GET", "/1", "a", "HTTP/1.1", 0, false, false, "") ||
				answers[1].body != want("POST", "/2", "a", "HTTP/1.1", 2, false, false, "ok") {
				t.Fatalf("the good requests got %+v", answers[:2])
			}
			checkRefusal(t, answers[2], 400, tc.reason)
			if !closed {
				t.Errorf("connection not closed after the refusal")
			}
		})
	}
}
