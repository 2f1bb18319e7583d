package faulttest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

// TestUpstreamResetMidResponse: the upstream sends its headers and part of
// the body, then resets the connection. The client gets the status and a
// body that breaks off (never a complete-looking answer), and every request
// leaves one audit line.
func TestUpstreamResetMidResponse(t *testing.T) {
	const n, sentBytes = 20, 1000
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "10000")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(strings.Repeat("x", sentBytes)))
		w.(http.Flusher).Flush()
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		c.(*net.TCPConn).SetLinger(0) // close with RST
		c.Close()
	}))
	t.Cleanup(up.Close)
	port := testnet.FreePort(t)
	a := startAmbassador(t, ambOptions{routes: tableFile(t, routeTable(routeSpec{name: "reset", port: port, target: up.URL}))})

	res := startLoad(door(port), 2, n).wait()
	// The client must never see a complete answer: either no status (the
	// ambassador had not flushed the headers when the body broke off) or a
	// body that breaks off.
	if complete := res.answered - res.bodyErrors; res.sent != n || complete != 0 {
		t.Errorf("client: %d sent, %d answered (%v), %d bodies broke off: want none of the %d to look complete; first failure %s",
			res.sent, res.answered, res.byStatus, res.bodyErrors, n, res.firstFail)
	}
	// Every request reached the ambassador (its door was open), so each
	// must leave a line, whether or not the client saw a status.
	k := a.settle(t, n)
	lines := a.stop(t)
	checkIntegrity(t, "upstream reset mid-response", n, k, lines)
	t.Logf("upstream reset mid-response: the client saw %d statuses and %d transport errors (first: %s)", res.answered, res.noAnswer, res.firstFail)
	for _, l := range lines {
		if l.Status != http.StatusOK || l.BytesOut >= 10000 || l.Route != "reset" || !strings.Contains(l.Reason, "broke off") || l.Attempts != 1 {
			t.Errorf("audit line %+v: want route reset, status 200 (sent), fewer than 10000 bytes out, one attempt, a reason that says the answer broke off", l)
			break
		}
	}
}

// TestUpstreamThatNeverAnswersTimesOut: the upstream accepts and never
// answers; the route's timeout ends each call with 504.
func TestUpstreamThatNeverAnswersTimesOut(t *testing.T) {
	const n = 6
	port := testnet.FreePort(t)
	a := startAmbassador(t, ambOptions{routes: tableFile(t, routeTable(routeSpec{
		name: "silent", port: port, target: "http://" + silentListener(t), extra: "timeout: 500ms",
	}))})

	res := startLoad(door(port), 3, n).wait()
	if res.answered != n || res.byStatus[http.StatusGatewayTimeout] != n {
		t.Errorf("client: %d answered %v, want %d × 504; first failure %s", res.answered, res.byStatus, n, res.firstFail)
	}
	k := a.settle(t, res.answered)
	lines := a.stop(t)
	checkIntegrity(t, "upstream never answers", res.answered, k, lines)
	for _, l := range lines {
		if l.Status != http.StatusGatewayTimeout || l.Route != "silent" {
			t.Errorf("audit line %+v: want route silent, status 504", l)
			break
		}
	}
}

// TestFailingDNSIsBadGateway: the route's target name does not resolve
// (.invalid never does); each request gets 502 and its audit line says so.
func TestFailingDNSIsBadGateway(t *testing.T) {
	const n = 6
	port := testnet.FreePort(t)
	a := startAmbassador(t, ambOptions{routes: tableFile(t, routeTable(routeSpec{
		name: "nxdomain", port: port, target: "http://no-such-host.invalid/x", extra: "timeout: 5s",
	}))})

	res := startLoad(door(port), 2, n).wait()
	if res.answered != n || res.byStatus[http.StatusBadGateway] != n {
		t.Errorf("client: %d answered %v, want %d × 502; first failure %s", res.answered, res.byStatus, n, res.firstFail)
	}
	k := a.settle(t, res.answered)
	lines := a.stop(t)
	checkIntegrity(t, "failing DNS", res.answered, k, lines)
	for _, l := range lines {
		if l.Status != http.StatusBadGateway || l.Route != "nxdomain" {
			t.Errorf("audit line %+v: want route nxdomain, status 502", l)
			break
		}
	}
}

// Test503StormIsCappedByTheRetryBudget: every try gets 503 and the route
// retries 5xx up to 3 tries; the retry budget (20 % of requests plus 10 per
// second, starting with 10 tokens) must keep the upstream's load near the
// request count, not three times it. Attempts are counted at the upstream.
func Test503StormIsCappedByTheRetryBudget(t *testing.T) {
	const n, tries = 300, 3
	var attempts atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		attempts.Add(1)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	t.Cleanup(up.Close)
	port := testnet.FreePort(t)
	a := startAmbassador(t, ambOptions{routes: tableFile(t, routeTable(routeSpec{
		name: "storm", port: port, target: up.URL, extra: "timeout: 5s\nretry: {attempts: 3, retryOn: [5xx]}",
	}))})

	begin := time.Now()
	res := startLoad(door(port), 8, n).wait()
	elapsed := time.Since(begin)
	if res.answered != n || res.byStatus[http.StatusServiceUnavailable] != n {
		t.Errorf("client: %d answered %v, want %d × 503; first failure %s", res.answered, res.byStatus, n, res.firstFail)
	}
	k := a.settle(t, res.answered)
	lines := a.stop(t)
	checkIntegrity(t, "503 storm", res.answered, k, lines)

	got := attempts.Load()
	// The budget's ceiling: a full bucket (10), 0.2 per request, 10 per
	// second of the run, plus one token of rounding.
	limit := int64(n + 10 + 0.2*n + 10*elapsed.Seconds() + 1)
	t.Logf("503 storm: %d requests in %s, %d upstream attempts (uncapped: %d, budget ceiling %d)",
		n, elapsed.Round(time.Millisecond), got, n*tries, limit)
	if got <= n || got > limit {
		t.Errorf("upstream saw %d attempts for %d requests: want some retries but at most %d (retries capped by the budget)", got, n, limit)
	}
	var logged int64
	for _, l := range lines {
		logged += int64(l.Attempts)
	}
	if logged != got {
		t.Errorf("audit lines add up to %d attempts, the upstream counted %d", logged, got)
	}
}
