package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/meshlite/meshlite/internal/ambassador/gate"
	"github.com/meshlite/meshlite/internal/ambassador/upstream"
	"github.com/meshlite/meshlite/pkg/policy"
)

// StatusClientClosed is logged when the client went away before the answer;
// nothing is sent.
const StatusClientClosed = 499

// requestError is a malformed request detected by a door.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return "proxy: " + e.msg }

func badRequest(msg string) error { return &requestError{status: http.StatusBadRequest, msg: msg} }

// statusOf maps every pipeline error to its HTTP status and a one-line
// reason. It is the only place that does.
func statusOf(err error) (int, string) {
	var (
		reqErr     *requestError
		inputErr   *policy.InputError
		resolveErr *policy.ResolveError
		dialErr    *upstream.DialError
		timeoutErr *upstream.TimeoutError
		lookupErr  *lookupTimeoutError
		bodyErr    *clientBodyError
		gateErr    *gate.Error
	)
	switch {
	case errors.Is(err, errShutDown):
		return http.StatusServiceUnavailable, strings.TrimPrefix(err.Error(), "proxy: ")
	case errors.As(err, &reqErr):
		return reqErr.status, reqErr.msg
	case errors.As(err, &inputErr):
		return http.StatusBadRequest, strings.TrimPrefix(inputErr.Error(), "policy: ")
	case errors.As(err, &gateErr): // a body the gate refused while it streamed
		return gateErr.Status, "malformed request body: " + gateErr.Reason
	case errors.As(err, &bodyErr):
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return http.StatusRequestTimeout, "client did not send the request body within the call's timeout"
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, io.ErrUnexpectedEOF) {
			return StatusClientClosed, "client went away while sending the request body"
		}
		return http.StatusBadRequest, "malformed request body (refused by the HTTP parser)"
	case errors.Is(err, context.Canceled):
		return StatusClientClosed, "client closed the request before the answer"
	case errors.As(err, &lookupErr):
		return http.StatusGatewayTimeout, lookupErr.reason()
	case errors.As(err, &timeoutErr):
		if timeoutErr.PerTry {
			return http.StatusGatewayTimeout, fmt.Sprintf("upstream did not answer within the per-try timeout of %s", timeoutErr.Timeout)
		}
		return http.StatusGatewayTimeout, fmt.Sprintf("upstream did not answer within the route timeout of %s", timeoutErr.Timeout)
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "upstream did not answer in time"
	case errors.As(err, &resolveErr):
		return http.StatusBadGateway, "cannot resolve upstream host: " + strings.TrimPrefix(resolveErr.Error(), "policy: ")
	case errors.As(err, &dialErr):
		return http.StatusBadGateway, "cannot connect to upstream: " + dialErr.Error()
	default:
		return http.StatusBadGateway, "upstream failed: " + err.Error()
	}
}

// writeReason answers with status, the reason as a one-line plain-text
// body and in the X-Meshlite-Reason header, replacing any answer set.
func writeReason(resp *fasthttp.Response, status int, reason string) {
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.Set("X-Meshlite-Reason", headerSafe(reason))
	resp.Header.SetContentType("text/plain; charset=utf-8")
	resp.Header.Set("X-Content-Type-Options", "nosniff")
	resp.SetBodyString(oneLine(reason) + "\n")
}

// writeError is writeReason for the admin server's net/http handlers.
func writeError(w http.ResponseWriter, status int, reason string) {
	h := w.Header()
	h.Set("X-Meshlite-Reason", headerSafe(reason))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(status)
	io.WriteString(w, oneLine(reason)+"\n")
}

// oneLine replaces line breaks so a reason stays one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// headerSafe keeps printable ASCII only and bounds the length.
func headerSafe(s string) string {
	const limit = 512
	b := make([]byte, 0, min(len(s), limit))
	for i := 0; i < len(s) && len(b) < limit; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	return string(b)
}
