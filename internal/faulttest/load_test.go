package faulttest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Load bounds: a test that needs more has a bug. The count leaves room for
// a fast door to keep answering through a 5 s stall and after it (the
// stalled-sink test in drop mode); the time bound is the one that binds.
const (
	loadMaxRequests = 600000
	loadMaxDuration = 30 * time.Second
)

// loadResult counts what the client got.
type loadResult struct {
	sent       int            // requests started
	answered   int            // got a status line and headers
	bodyErrors int            // answered, then the body broke off
	noAnswer   int            // failed before any status line
	byStatus   map[int]int    // answered requests by status
	firstFail  string         // the first failure of either kind
	answeredID map[string]int // X-Test-Id → status, for requests that got one
}

// load runs workers that each send GET url one after another (header
// X-Test-Id: a unique number) until stop, n requests in all (0 = until stop),
// or the bounds above.
type load struct {
	stopc  chan struct{}
	done   chan struct{}
	next   atomic.Int64
	client *http.Client

	mu  sync.Mutex
	res loadResult
}

func startLoad(url string, workers, n int) *load {
	l := &load{
		stopc: make(chan struct{}),
		done:  make(chan struct{}),
		client: &http.Client{Timeout: waitLimit, Transport: &http.Transport{
			MaxIdleConnsPerHost: workers, DisableCompression: true,
		}},
		res: loadResult{byStatus: map[int]int{}, answeredID: map[string]int{}},
	}
	limit := int64(loadMaxRequests)
	if n > 0 {
		limit = int64(n)
	}
	deadline := time.Now().Add(loadMaxDuration)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-l.stopc:
					return
				default:
				}
				i := l.next.Add(1)
				if i > limit || time.Now().After(deadline) {
					return
				}
				l.once(url, strconv.FormatInt(i, 10))
			}
		})
	}
	go func() { wg.Wait(); l.client.CloseIdleConnections(); close(l.done) }()
	return l
}

func (l *load) once(url, id string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Test-Id", id)
	resp, err := l.client.Do(req)
	var bodyErr error
	if err == nil {
		_, bodyErr = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.sent++
	switch {
	case err != nil:
		l.res.noAnswer++
		if l.res.firstFail == "" {
			l.res.firstFail = "request " + id + ": " + err.Error()
		}
	default:
		l.res.answered++
		l.res.byStatus[resp.StatusCode]++
		l.res.answeredID[id] = resp.StatusCode
		if bodyErr != nil {
			l.res.bodyErrors++
			if l.res.firstFail == "" {
				l.res.firstFail = fmt.Sprintf("request %s: %d, then the body: %v", id, resp.StatusCode, bodyErr)
			}
		}
	}
}

// count is the number of requests finished so far.
func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res.sent
}

// wait waits for the load to end by itself (n requests sent).
func (l *load) wait() loadResult {
	select {
	case <-l.done:
	case <-time.After(loadMaxDuration + waitLimit):
		panic("load did not end")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}

// stop ends the load and returns what the client got.
func (l *load) stop() loadResult {
	close(l.stopc)
	return l.wait()
}
