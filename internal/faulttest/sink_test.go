package faulttest

import (
	"net/http"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/testnet"
)

// stallFor is how long the audit sink stops reading.
const stallFor = 5 * time.Second

// stalledSink runs load through an ambassador whose stdout is not read for
// stallFor, then read again, and returns what happened.
func stalledSink(t *testing.T, overflow string) (res loadResult, k tally, lines []line, duringStall int) {
	t.Helper()
	port := testnet.FreePort(t)
	a := startAmbassador(t, ambOptions{overflow: overflow, routes: tableFile(t, routeTable(routeSpec{name: "api", port: port, target: okUpstream(t, "ok")}))})
	l := startLoad(door(port), 16, 0)
	eventually(t, "load flowing", func() bool { return l.count() >= 100 })
	resume := a.audit.stall()
	before := l.count()
	time.Sleep(stallFor) // the fault: a sink that does not read for this long
	duringStall = l.count() - before
	resume()
	after := l.count()
	for deadline := time.Now().Add(waitLimit); l.count() < after+100; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_, dump := get(a.admin + "/debug/pprof/goroutine?debug=1")
			t.Fatalf("load did not flow again after the sink resumed: %d requests since; the ambassador's goroutines:\n%s", l.count()-after, dump)
		}
	}
	res = l.stop()
	k = a.settle(t, res.answered)
	lines = a.stop(t)
	return res, k, lines, duringStall
}

// The lines that can be in flight while the sink does not read: the queue,
// a writer's batch of up to 64 KiB plus one line, and a pipe's 64 KiB, at
// no less than 300 bytes a line (these lines are longer).
const maxBuffered = audit.DefaultQueueLines + 2*(64<<10)/300 + 2

// TestStalledAuditSinkBlockLosesNothing: with --audit-overflow=block a sink
// that stops reading holds requests back once the queue is full, and no
// line is lost.
func TestStalledAuditSinkBlockLosesNothing(t *testing.T) {
	res, k, lines, during := stalledSink(t, "block")
	t.Logf("stalled sink, block: %d requests answered while the sink was stalled for %s (at most %d lines fit before requests wait)", during, stallFor, maxBuffered)
	if res.noAnswer != 0 || res.byStatus[http.StatusOK] != res.answered {
		t.Errorf("client: %v, %d without an answer; want every one 200; first failure %s", res.byStatus, res.noAnswer, res.firstFail)
	}
	if during > maxBuffered+16 {
		t.Errorf("%d requests finished while the sink was stalled: more than the %d lines that can wait, plus one per worker", during, maxBuffered)
	}
	if k.dropped != 0 {
		t.Errorf("dropped %v lines in block mode", k.dropped)
	}
	checkIntegrity(t, "stalled sink, block", res.answered, k, lines)
}

// TestStalledAuditSinkDropCountsEveryLostLine: with --audit-overflow=drop
// requests keep flowing while the sink is stalled, and lines written plus
// meshlite_audit_dropped_total equal the requests.
func TestStalledAuditSinkDropCountsEveryLostLine(t *testing.T) {
	res, k, lines, during := stalledSink(t, "drop")
	t.Logf("stalled sink, drop: %d requests answered while the sink was stalled for %s", during, stallFor)
	if res.noAnswer != 0 || res.byStatus[http.StatusOK] != res.answered {
		t.Errorf("client: %v, %d without an answer; want every one 200; first failure %s", res.byStatus, res.noAnswer, res.firstFail)
	}
	if during > maxBuffered+16 && k.dropped == 0 {
		t.Errorf("%d requests during the stall, more than fit, yet nothing was dropped", during)
	}
	checkIntegrity(t, "stalled sink, drop", res.answered, k, lines)
}
