// Package gate is the strict front gate of the ambassador's HTTP doors: a
// net.Conn wrapper that sits between the socket and fasthttp and hands
// fasthttp only bytes it has already checked.
//
// # What it checks
//
// A byte-level state machine runs once over each read, in place. It
// follows the request line, the field lines and the body framing
// (Content-Length counted, chunked parsed strictly: hex size, extensions
// without control characters, CRLF, data, CRLF, last chunk, trailer fields
// checked like header fields, final CRLF) to find every pipelined head. It
// refuses, with 400 unless noted:
//
//   - a request line other than METHOD SP request-target SP HTTP/1.x CRLF:
//     a method that is not a token, a target with a space or control
//     character, one net/url's ParseRequestURI refuses (origin-form with a
//     bad percent-escape, a relative target, an absolute-form target without
//     a host), "*" with a method other than OPTIONS, a CONNECT target that is
//     not an authority; an empty line before it; HTTP/0.9; a well-formed
//     version other than HTTP/1.0 and HTTP/1.1 (505, as net/http; the
//     HTTP/2 prior-knowledge preface gets 400, as net/http);
//   - bare LF or bare CR anywhere in a head, a trailer section or chunk
//     framing; obs-fold continuation lines; whitespace before the colon;
//     field names that are not tokens; values with control characters other
//     than HTAB (obs-text is allowed, as net/http does);
//   - Host missing in HTTP/1.1, empty, given twice (in any version) or not a
//     valid host (httpguts.ValidHostHeader);
//   - Content-Length given twice (even with equal values) or not 1 to 18
//     plain decimal digits; Content-Length together with Transfer-Encoding;
//     Transfer-Encoding given twice or in HTTP/1.0; a Transfer-Encoding
//     other than "chunked" in any case (501, as net/http); a Trailer header
//     or trailer field naming Host, Content-Length, Transfer-Encoding or
//     Trailer;
//   - a head (request line and field lines, line ends included) or a
//     trailer section over Options.MaxHeaderBytes (431).
//
// Whether the authority of an absolute-form or CONNECT target matches Host
// is left to the pipeline, which compares the two once it has normalised
// both (and can say what is wrong with a host it cannot use at all).
//
// # How a refusal reaches the client
//
// The bytes before the offending one are handed on (never the last byte
// of a head that fails the end-of-head checks, so fasthttp never
// dispatches such a head); then Read returns the *Error. The client gets
// exactly one answer, after every earlier pipelined request has been
// answered in order: the status, Content-Type text/plain; charset=utf-8,
// X-Meshlite-Reason with the reason, Connection: close, the reason as the
// one-line body. Where fasthttp reports the read error, the ErrorHandler
// that Configure installs writes it; where fasthttp closes quietly (a
// refusal at the first byte of a later request on a keep-alive
// connection), Conn.Close writes it. A refusal in the body of a request
// already handed on is answered by that ErrorHandler too (fasthttp reads
// the body before the handler runs), or, with StreamRequestBody, by the
// handler, which gets the *Error as the body's read error; Close leaves it
// alone. Close then half-closes and drains what
// the client still sends for up to 500 ms, so that the answer is not lost
// to a reset. Options.OnReject is called once, when the refusal is
// answered.
//
// # Server settings
//
// Serve with NewListener (or Wrap each connection) and call Configure on
// the fasthttp.Server before serving. Configure sets ErrorHandler (keeping
// the one the server had for errors that are not refusals),
// DisableHeaderNamesNormalizing, and ReadBufferSize to at least
// MaxHeaderBytes plus 4 KiB, since fasthttp refuses a head larger than its
// read buffer (that buffer is held per active connection). The handler
// takes each request's Head with Conn.Next, once per request, in order, and
// reads the path from Head.Target (or the raw RequestURI), never from
// ctx.Path(), which fasthttp decodes and normalises.
//
// # Tunnels
//
// After a CONNECT request, or one with an Upgrade header, the bytes that
// follow may be tunnel data, so the gate stops there: it hands on nothing
// more and Read returns io.EOF, until the handler calls Passthrough (after
// it allowed the CONNECT, or sent 101), from which point bytes flow
// unchecked both ways, starting with any the gate had already read. So the
// server closes the connection after answering such a request unless it
// called Passthrough; with fasthttp that happens by itself when the next
// read returns io.EOF.
package gate
