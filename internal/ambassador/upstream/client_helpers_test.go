package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// newTestClient builds a Client with its own registry and no backoff.
func newTestClient(t testing.TB, opts Options) *Client {
	t.Helper()
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	cl := NewClient(opts)
	cl.backoff = func(int) time.Duration { return 0 }
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// clientResult is what a test call through a Client returned.
type clientResult struct {
	status int
	body   string
	header *fasthttp.ResponseHeader
}

// sendClient makes one call through cl with the given method, URL and
// body (nil for none; a reader is sent as a stream of unknown length),
// reads the whole response body and calls done.
func sendClient(t testing.TB, cl *Client, ctx context.Context, method, url string, body io.Reader, tg *Target) (*clientResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	if body != nil {
		req.SetBodyStream(body, -1)
	}
	done, err := cl.Do(ctx, tg, req, resp)
	defer done()
	if err != nil {
		return nil, err
	}
	res := &clientResult{status: resp.StatusCode(), header: &fasthttp.ResponseHeader{}}
	resp.Header.CopyTo(res.header)
	b, err := readClientBody(resp)
	res.body = string(b)
	return res, err
}

// readClientBody reads resp's body, streamed or whole.
func readClientBody(resp *fasthttp.Response) ([]byte, error) {
	if s := resp.BodyStream(); s != nil {
		return io.ReadAll(s)
	}
	return append([]byte(nil), resp.Body()...), nil
}

// newClientRequest acquires a request for method and url and a response,
// released when the test ends.
func newClientRequest(t testing.TB, method, url string) (*fasthttp.Request, *fasthttp.Response) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	t.Cleanup(func() { fasthttp.ReleaseRequest(req); fasthttp.ReleaseResponse(resp) })
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	return req, resp
}

// poolCount is the number of pools the client keeps.
func (cl *Client) poolCount() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.pools)
}

// newServerOn serves rec on l until the test ends.
func newServerOn(t testing.TB, l net.Listener, rec *recorder) *http.Server {
	t.Helper()
	srv := &http.Server{Handler: rec}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return srv
}
