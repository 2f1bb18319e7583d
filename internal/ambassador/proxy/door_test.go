package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestGateRefusalLeavesAnAuditLine: a request the gate refuses before it
// reaches the pipeline is answered with its reason and still leaves one
// audit line, so a refused client shows up where every other request does.
func TestGateRefusalLeavesAnAuditLine(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, ""), nil)
	addr := strings.TrimPrefix(e.local.URL, "http://")
	status, h := rawRequest(t, addr, "GET /api HTTP/1.1\r\nHost: localhost\r\nX-Fold: a\r\n b\r\n\r\n")
	if status != http.StatusBadRequest || !strings.Contains(h.Get("X-Meshlite-Reason"), "obs-fold") {
		t.Fatalf("status %d, reason %q; want 400 naming the obs-fold", status, h.Get("X-Meshlite-Reason"))
	}
	if n := up.calls.Load(); n != 0 {
		t.Errorf("the upstream was called %d times", n)
	}
	lines := e.audit()
	if len(lines) != 1 {
		t.Fatalf("want one audit line, got %d: %v", len(lines), lines)
	}
	l := lines[0]
	if l["door"] != "local" || l["decision"] != "deny" || l["status"] != 400.0 || !strings.Contains(fmt.Sprint(l["reason"]), "obs-fold") {
		t.Errorf("audit line %v", l)
	}
}

// TestTargetHostMustMatchHost: the forward door decides on the target's
// host; a Host header naming another host is refused, one naming the same
// host (any spelling, with or without the port) is not.
func TestTargetHostMustMatchHost(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, ""), nil)
	addr := strings.TrimPrefix(e.forward.URL, "http://")
	target := fmt.Sprintf("http://localhost:%d/api", e.doorPort)
	tests := []struct {
		name, raw string
		status    int
		reason    string
	}{
		{"same host and port", "GET " + target + " HTTP/1.1\r\nHost: localhost:" + fmt.Sprint(e.doorPort) + "\r\n\r\n", 200, ""},
		{"same host in another case, no port", "GET " + target + " HTTP/1.1\r\nHost: LOCALHOST\r\n\r\n", 200, ""},
		{"another host", "GET " + target + " HTTP/1.1\r\nHost: evil.invalid\r\n\r\n", 400, `differs from Host header "evil.invalid"`},
		{"another port", "GET " + target + " HTTP/1.1\r\nHost: localhost:1\r\n\r\n", 400, "differs from Host header"},
		{"CONNECT to another host than Host", "CONNECT a.invalid:443 HTTP/1.1\r\nHost: b.invalid:443\r\n\r\n", 400, "differs from Host header"},
		{"CONNECT without a port", "CONNECT a.invalid HTTP/1.1\r\nHost: a.invalid\r\n\r\n", 400, "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h := rawRequest(t, addr, tt.raw)
			if status != tt.status || !strings.Contains(h.Get("X-Meshlite-Reason"), tt.reason) {
				t.Errorf("status %d, reason %q; want %d mentioning %q", status, h.Get("X-Meshlite-Reason"), tt.status, tt.reason)
			}
		})
	}
}

// TestStreamedAnswerIsAuditedWhenSent: an answer of unknown length is
// streamed to the client as it arrives, and its audit line, written once
// the server has sent it, counts every byte.
func TestStreamedAnswerIsAuditedWhenSent(t *testing.T) {
	const chunks, size = 8, 16 << 10
	up := newUpstream(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		for range chunks {
			io.WriteString(w, strings.Repeat("x", size))
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	})
	e := newEnv(t, mappedTable(up, ""), nil)
	resp, body := get(t, http.DefaultClient, e.local.URL+"/api")
	if resp.StatusCode != 200 || len(body) != chunks*size {
		t.Fatalf("status %d, %d bytes; want 200 and %d", resp.StatusCode, len(body), chunks*size)
	}
	if resp.ContentLength != -1 {
		t.Errorf("Content-Length %d: want the answer streamed (chunked), as it came", resp.ContentLength)
	}
	lines := e.audit()
	if len(lines) != 1 || lines[0]["bytes_out"] != float64(chunks*size) || lines[0]["status"] != 200.0 {
		t.Fatalf("audit %v; want one line with status 200 and bytes_out %d", lines, chunks*size)
	}
}

// TestHeadAnswerKeepsContentLength: the answer to HEAD carries the
// upstream's Content-Length and no body.
func TestHeadAnswerKeepsContentLength(t *testing.T) {
	up := newUpstream(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "1234")
	})
	e := newEnv(t, mappedTable(up, ""), nil)
	resp, err := http.Head(e.local.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 1234 {
		t.Errorf("HEAD: status %d, Content-Length %d; want 200 and 1234", resp.StatusCode, resp.ContentLength)
	}
}

// TestMalformedBodyIsRefused: a chunked body the gate refuses mid-stream
// gets 400 naming the problem, and its audit line says so.
func TestMalformedBodyIsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, ""), nil)
	addr := strings.TrimPrefix(e.local.URL, "http://")
	status, h := rawRequest(t, addr, "POST /api HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nzz\r\n")
	if status != http.StatusBadRequest || !strings.Contains(h.Get("X-Meshlite-Reason"), "chunk") {
		t.Fatalf("status %d, reason %q; want 400 naming the chunk", status, h.Get("X-Meshlite-Reason"))
	}
	lines := e.audit()
	if len(lines) != 1 || lines[0]["status"] != 400.0 || !strings.Contains(fmt.Sprint(lines[0]["reason"]), "chunk") {
		t.Errorf("audit %v; want one line with 400 naming the chunk", lines)
	}
}
