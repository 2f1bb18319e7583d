package faulttest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

// slowUpstream answers "ok" after delay and records the X-Test-Id of every
// request it started, and how many it is serving now.
type slowUpstream struct {
	url string
	mu  sync.Mutex
	ids []string
	now int
}

func newSlowUpstream(t *testing.T, delay time.Duration) *slowUpstream {
	t.Helper()
	s := &slowUpstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ids = append(s.ids, r.Header.Get("X-Test-Id"))
		s.now++
		s.mu.Unlock()
		defer func() { s.mu.Lock(); s.now--; s.mu.Unlock() }()
		select {
		case <-time.After(delay): // the work this upstream does
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *slowUpstream) serving() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *slowUpstream) started() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// TestSIGTERMUnderLoadFailsNoRequestInFlight: SIGTERM while eight requests
// are at a slow upstream (300 ms, well inside the 5 s grace): every request
// that reached the upstream gets its 200, requests after the doors closed
// get a whole answer or none (never half-served), and every answered
// request has its line.
func TestSIGTERMUnderLoadFailsNoRequestInFlight(t *testing.T) {
	const workers = 8
	up := newSlowUpstream(t, 300*time.Millisecond)
	port := testnet.FreePort(t)
	a := startAmbassador(t, ambOptions{routes: tableFile(t, routeTable(routeSpec{name: "slow", port: port, target: up.url}))})
	l := startLoad(door(port), workers, 0)
	eventually(t, "a first round of answers", func() bool { return l.count() >= workers })
	eventually(t, "every worker's request at the upstream", func() bool { return up.serving() == workers })

	a.terminate(t)
	res := l.stop() // each worker finishes the request it is in, and sends no more
	lines := a.stop(t)
	inFlight := up.started()

	for _, id := range inFlight {
		if code, ok := res.answeredID[id]; !ok || code != http.StatusOK {
			t.Errorf("request %s reached the upstream before or during shutdown but the client got %d (0 = no answer); first failure %s", id, code, res.firstFail)
		}
	}
	if res.answered != res.byStatus[http.StatusOK] || res.bodyErrors != 0 {
		t.Errorf("client: answers %v, %d bodies broke off: want only whole 200s", res.byStatus, res.bodyErrors)
	}
	// The admin listener is gone with the process, so the count is the
	// client's: lines must equal the requests that got an answer.
	t.Logf("SIGTERM under load: %d sent, %d answered, %d refused after the doors closed, %d reached the upstream, %d audit lines",
		res.sent, res.answered, res.noAnswer, len(inFlight), len(lines))
	if len(lines) != res.answered {
		t.Errorf("%d audit lines for %d answered requests", len(lines), res.answered)
	}
}
