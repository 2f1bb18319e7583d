package gate

import (
	"errors"
	"net"
	"net/http"

	"github.com/valyala/fasthttp"
)

// readBufferSlack is added to MaxHeaderBytes for the server's read buffer,
// which must hold a whole head.
const readBufferSlack = 4096

// Configure sets up s to serve behind gates built with opts:
//   - ErrorHandler answers a gate refusal with its status and reason
//     (exactly once; see Conn), and hands any other error to the
//     ErrorHandler s had, or answers it in the same shape;
//   - DisableHeaderNamesNormalizing, so that names reach the handler as sent;
//   - DisablePreParseMultipartForm, so that bodies are forwarded as sent
//     (never parsed into forms or spooled to temporary files);
//   - ReadBufferSize at least MaxHeaderBytes plus 4 KiB, so that every head
//     the gate passes fits (fasthttp refuses a head larger than its buffer).
//
// The handler must still read the path from Head.Target (or
// ctx.Request.Header.RequestURI()), never from ctx.Path(), which fasthttp
// decodes and normalises.
func Configure(s *fasthttp.Server, opts Options) {
	prev := s.ErrorHandler
	s.ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
		if g, ok := ctx.Conn().(interface{ GateConn() *Conn }); ok {
			if r := g.GateConn().answer(true); r != nil {
				WriteRefusal(ctx, r)
				return
			}
		}
		if prev != nil {
			prev(ctx, err)
			return
		}
		WriteRefusal(ctx, ParserError(err))
	}
	s.DisableHeaderNamesNormalizing = true
	s.DisablePreParseMultipartForm = true
	s.ReadBufferSize = max(s.ReadBufferSize, opts.maxHeaderBytes()+readBufferSlack)
}

// WriteRefusal sets the answer to r on ctx: status, the reason in
// X-Meshlite-Reason and as the one-line body, and Connection: close.
func WriteRefusal(ctx *fasthttp.RequestCtx, r *Error) {
	ctx.Response.Reset()
	ctx.SetStatusCode(r.Status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set("X-Meshlite-Reason", r.Reason)
	ctx.SetBodyString(r.Reason + "\n")
	ctx.SetConnectionClose()
}

// ParserError describes an error fasthttp found in bytes the gate passed
// (or a timeout): its status, and a reason that names the problem but not
// the client's bytes. It answers for a server without an ErrorHandler of
// its own.
func ParserError(err error) *Error {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		return &Error{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "request head larger than the server's read buffer"}
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Reason: "request body too large"}
	case errors.As(err, &ne) && ne.Timeout():
		return &Error{Status: http.StatusRequestTimeout, Reason: "request not received in time"}
	}
	return &Error{Status: http.StatusBadRequest, Reason: "malformed request (refused by the HTTP parser)"}
}
