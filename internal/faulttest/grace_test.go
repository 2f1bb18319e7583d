package faulttest

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

// connect sends CONNECT addr to the forward door and returns the status.
func connect(t *testing.T, forward, addr string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", forward, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", addr, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", addr, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWorkOutlivingTheGraceStillLeavesItsLines: SIGTERM with a 1 s grace
// while requests wait on an upstream that answers after 60 s: at the end of
// the grace the ambassador closes them, and each still leaves its audit
// line before the process exits. A CONNECT tunnel is denied (a tunnel to
// loopback never opens: the guard denies it), and leaves its line too.
// (A tunnel held open past the grace cannot be made on loopback alone.)
func TestWorkOutlivingTheGraceStillLeavesItsLines(t *testing.T) {
	const stuck = 4
	up := newSlowUpstream(t, time.Minute)
	port := testnet.FreePort(t)
	table := routeTable(routeSpec{name: "stuck", port: port, target: up.url, extra: "timeout: 2m"})
	a := startAmbassador(t, ambOptions{routes: tableFile(t, table), extra: []string{"--shutdown-grace", "1s"}})
	if code := connect(t, a.listen, strings.TrimPrefix(up.url, "http://")); code != http.StatusForbidden {
		t.Errorf("CONNECT to loopback: %d, want 403", code)
	}
	l := startLoad(door(port), stuck, stuck)
	eventually(t, "every request at the upstream", func() bool { return up.serving() == stuck })

	lines := a.stop(t)
	res := l.wait()
	var tunnels, requests int
	for _, ln := range lines {
		switch {
		case ln.Method == http.MethodConnect:
			tunnels++
		case ln.Route == "stuck":
			requests++
		}
	}
	t.Logf("outliving the grace: %d requests at the upstream and 1 denied tunnel; client: %d answered %v, %d without an answer; audit lines: %d requests, %d tunnels; statuses %v",
		stuck, res.answered, res.byStatus, res.noAnswer, requests, tunnels, statuses(lines))
	if requests != stuck || tunnels != 1 || len(lines) != stuck+1 {
		t.Errorf("audit lines: %d for the stuck requests, %d for the tunnel, %d in all; want %d, 1, %d", requests, tunnels, len(lines), stuck, stuck+1)
	}
	if res.byStatus[http.StatusOK] != 0 {
		t.Errorf("client: %v: a request cut off at the end of the grace must not look answered", res.byStatus)
	}
}

func statuses(lines []line) string {
	count := map[int]int{}
	for _, l := range lines {
		count[l.Status]++
	}
	return strings.TrimPrefix(fmt.Sprint(count), "map")
}
