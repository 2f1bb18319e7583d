package soak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// kind is one sort of work the load does.
type kind int

const (
	local   kind = iota // GET through the local mapping door
	forward             // absolute-form GET through the forward door
	tunnel              // CONNECT through the forward door, bytes echoed
	kinds
)

var kindNames = [kinds]string{"local door", "forward door", "CONNECT tunnel"}

// pick spreads the load: of every 20 jobs, 9 local, 9 forward, 2 tunnels.
func pick(n int64) kind {
	switch m := n % 20; {
	case m < 9:
		return local
	case m < 18:
		return forward
	default:
		return tunnel
	}
}

// tally counts what one kind of work did.
type tally struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErr   string
}

func (t *tally) fail(err error) {
	t.failed.Add(1)
	t.mu.Lock()
	if t.firstErr == "" {
		t.firstErr = err.Error()
	}
	t.mu.Unlock()
}

// load sends rate jobs a second, mixed by pick, from a fixed set of
// workers, until stop.
type load struct {
	w          *world
	localURL   string
	forwardURL string
	localC     *http.Client
	forwardC   *http.Client
	tallies    [kinds]tally
	fromA      atomic.Int64 // local door answers from table a and b
	fromB      atomic.Int64
	behind     atomic.Int64 // jobs not sent because every worker was busy
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

const (
	workers = 64
	// connsPerClient caps each HTTP client's connections to the ambassador,
	// so that its connection pools (and their goroutines) reach a fixed
	// size in the warm-up instead of creeping up with rare bursts.
	connsPerClient = 16
)

func startLoad(w *world, rate int) *load {
	proxyURL := &url.URL{Scheme: "http", Host: w.forward}
	l := &load{
		w:          w,
		localURL:   fmt.Sprintf("http://127.0.0.1:%d/api", w.localPort),
		forwardURL: "http://" + w.upstream.Listener.Addr().String() + "/fwd",
		localC:     &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: connsPerClient, MaxIdleConnsPerHost: connsPerClient}},
		forwardC: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			Proxy: http.ProxyURL(proxyURL), MaxConnsPerHost: connsPerClient, MaxIdleConnsPerHost: connsPerClient}},
	}
	l.warmUp()
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	jobs := make(chan kind, workers)
	for range workers {
		l.wg.Go(func() {
			for k := range jobs {
				l.do(k)
			}
		})
	}
	l.wg.Go(func() { l.dispatch(ctx, rate, jobs) })
	return l
}

// warmUp opens every connection the load may use at once: connsPerClient
// requests per client held together at the upstream's barrier fill the
// clients' pools, the ambassador's client connections and its upstream
// pool to the size they keep for the rest of the run.
func (l *load) warmUp() {
	var wg sync.WaitGroup
	for range connsPerClient {
		wg.Go(func() { _, _ = l.get(l.localC, l.localURL+"/warm") })
		wg.Go(func() { _, _ = l.get(l.forwardC, l.forwardURL+"/warm") })
	}
	wg.Wait()
}

// dispatch queues rate jobs a second in 10 ms steps; a job that finds the
// queue full is counted as behind rather than waited for, so the rate
// stays steady and a slow ambassador shows in the numbers.
func (l *load) dispatch(ctx context.Context, rate int, jobs chan<- kind) {
	defer close(jobs)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start, sent := time.Now(), int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			due := int64(now.Sub(start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				select {
				case jobs <- pick(sent):
				default:
					l.behind.Add(1)
				}
			}
		}
	}
}

// stop ends the load and waits for every job in flight.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
	l.localC.CloseIdleConnections()
	l.forwardC.CloseIdleConnections()
}

func (l *load) do(k kind) {
	var err error
	switch k {
	case local:
		var body string
		if body, err = l.get(l.localC, l.localURL); err == nil {
			switch body {
			case "/a":
				l.fromA.Add(1)
			case "/b":
				l.fromB.Add(1)
			default:
				err = fmt.Errorf("local door answered %q, want /a or /b", body)
			}
		}
	case forward:
		var body string
		if body, err = l.get(l.forwardC, l.forwardURL); err == nil && body != "/fwd" {
			err = fmt.Errorf("forward door answered %q, want /fwd", body)
		}
	case tunnel:
		err = l.tunnel()
	}
	if err != nil {
		l.tallies[k].fail(err)
		return
	}
	l.tallies[k].ok.Add(1)
}

func (l *load) get(c *http.Client, u string) (string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d: %s", u, resp.StatusCode, b)
	}
	return string(b), nil
}

var payload = bytes.Repeat([]byte("soak tunnel bytes\n"), 64)

// tunnel opens CONNECT to the echo server, sends payload, half-closes and
// reads the echo to its end.
func (l *load) tunnel() error {
	c, err := net.DialTimeout("tcp", l.w.forward, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	authority := l.w.echo.Addr().String()
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CONNECT %s: status %d (%s)", authority, resp.StatusCode, resp.Header.Get("X-Meshlite-Reason"))
	}
	if _, err := c.Write(payload); err != nil {
		return err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	got, err := io.ReadAll(br)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return errors.New("tunnel: the echo differs from what was sent")
	}
	return nil
}
