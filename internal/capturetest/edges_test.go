package capturetest

// Edge cases found in review of the transparent door: CONNECT at the door,
// request lines longer than a first read, clients that half-close, and
// running out of descriptors.

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

func TestTransparentDoorEdges(t *testing.T) {
	s := newSuite(t)
	t.Run("CONNECT at the transparent door is refused and audited with its original destination", s.connectAtDoor)
	t.Run("request line of 12 KiB to an allowed name is served as at the forward door", s.longRequestLine)
	t.Run("client that half-closes after its request gets the upstream's answer or none, never an empty 200", s.halfCloseAfterRequest)
}

// connectAtDoor sends CONNECT to a captured address: refused with 400,
// and, as every transparent request, audited with where the app was going.
func (s *suite) connectAtDoor(t *testing.T) {
	dst := s.tp.decoy.port(4, httpPort)
	from := s.amb.mark()
	req := "CONNECT decoy.test:443 HTTP/1.1\r\nHost: decoy.test:443\r\n\r\n"
	r := s.app(t, action{Kind: "raw", Addr: dst, attackAction: attackAction{Raw: []byte(req), HalfClose: true}})
	if !strings.HasPrefix(r.Received, "HTTP/1.1 400") {
		t.Errorf("CONNECT at %s: %q, want 400", dst, r.Received)
	}
	l := s.amb.waitAudit(t, from, "CONNECT at "+dst, func(l auditLine) bool {
		return l.str("door") == "transparent" && l.str("method") == http.MethodConnect
	})
	checkLine(t, l, map[string]string{"status": "400", "upstream": "", "original_dst": dst}, "CONNECT")
	s.decoyGotNothing(t, false, dst)
}

// longRequestLine sends a GET whose request line (12 KiB, more than the
// door once sniffed) takes several reads but is below --max-header-bytes
// (16 KiB), which the forward door serves.
func (s *suite) longRequestLine(t *testing.T) {
	dst := s.tp.allowed.port(4, httpPort)
	path := "/long-line?q=" + strings.Repeat("a", 12<<10)
	from := s.amb.mark()
	r := s.app(t, action{Kind: "http", Addr: dst, Host: "allowed.test", Path: path})
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `"Path":"/long-line"`) {
		t.Errorf("GET with a %d-byte request line at %s: %+v, want 200 from the allowed upstream", len(path)+15, dst, r)
	}
	l := s.amb.waitAudit(t, from, "GET /long-line", toDst(dst, ""))
	checkLine(t, l, map[string]string{"decision": "allow", "rule": "allowed-web", "method": "GET"}, "")
}

// halfCloseAfterRequest writes a whole request, half-closes (as `nc -N`
// and some HTTP/1.0 clients do) and reads the answer. The HTTP server
// cannot tell a half-close from a client that went away, so the pipeline
// may stop the call (499, as nginx and net/http proxies do); what it must
// never do is answer a request it did not send: the client gets the
// upstream's answer, or the connection closes with no answer at all.
// Tried a few times at the transparent door and at the forward door, which
// shares the pipeline.
func (s *suite) halfCloseAfterRequest(t *testing.T) {
	for _, door := range []struct{ name, addr, target string }{
		{"transparent", s.tp.allowed.port(4, httpPort), ""},
		{"forward", "127.0.0.1:1080", "http://allowed.test"},
	} {
		for i := range 4 {
			path := "/half-close-" + door.name + "-" + strconv.Itoa(i)
			from := s.amb.mark()
			req := "GET " + door.target + path + " HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n"
			r := s.app(t, action{Kind: "raw", Addr: door.addr, attackAction: attackAction{Raw: []byte(req), HalfClose: true}})
			l := s.amb.waitAudit(t, from, "GET "+path, func(l auditLine) bool {
				return l.str("door") == door.name && strings.Contains(l.str("url"), path)
			})
			switch {
			case r.Received == "":
				checkLine(t, l, map[string]string{"status": "499"}, "")
			case strings.HasPrefix(r.Received, "HTTP/1.1 200") && strings.Contains(r.Received, `"Path":"`+path+`"`):
				checkLine(t, l, map[string]string{"decision": "allow", "status": "200"}, "")
			default:
				t.Errorf("%s door, try %d: GET then half-close: the client got %q, want the allowed upstream's answer or none; audit: %s",
					door.name, i, r.Received, l)
			}
		}
	}
}

// TestTransparentDoorSurvivesDescriptorExhaustion runs the ambassador with
// few descriptors: a burst of captured connections makes accept fail with
// EMFILE. Once the burst is gone, the door must serve again (the other
// doors' http.Server retries temporary accept errors).
func TestTransparentDoorSurvivesDescriptorExhaustion(t *testing.T) {
	testnet.RequireNetns(t, "ip", "nft", "setpriv", "prlimit")
	tp := newTopology(t)
	bins := buildBinaries(t)
	certPEM, keyPEM := selfSigned(t, "allowed.test")
	tp.startWorld(bins, certPEM, keyPEM)
	tp.initCapture(t, bins)
	amb := tp.startWrappedAmbassador(bins, proxyUID, tp.captureTable(), []string{"prlimit", "--nofile=64:64"})
	if r := tp.runClient(t, bins, appUID, action{Kind: "readyz", Addr: adminAddr, WantStatus: http.StatusOK}); r.Status != http.StatusOK {
		t.Fatalf("ambassador not ready: %+v", r)
	}
	// Silent connections to the decoy: each holds a descriptor for the
	// detect timeout (1s), then is denied and closed.
	r := tp.runClient(t, bins, appUID, action{Kind: "flood", Addr: tp.decoy.port(4, altPort), attackAction: attackAction{Count: 120, HoldMS: 1500}})
	t.Logf("flood: %+v", r)
	// The door decides and closes the flood connections within the detect
	// timeout; poll until it serves again rather than guessing how long.
	var got result
	for deadline := time.Now().Add(stateWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = tp.runClient(t, bins, appUID, action{Kind: "http", Addr: tp.allowed.port(4, httpPort), Host: "allowed.test", Path: "/after-flood"}); got.Status == http.StatusOK {
			break
		}
	}
	if got.Status != http.StatusOK {
		ready := tp.runClient(t, bins, appUID, action{Kind: "readyz", Addr: adminAddr, WantStatus: http.StatusOK})
		t.Errorf("GET after the burst: %+v, want 200: the door no longer accepts (meanwhile /readyz answers %d)", got, ready.Status)
	}
	if strings.Contains(amb.stderr.String(), "stopped accepting") {
		t.Errorf("the door gave up on a temporary accept error:\n%s", grepLines(amb.stderr.String(), "stopped accepting"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
