package gate

import (
	"fmt"
	"net/http"
	"strconv"
)

// maxReason bounds a reason, in bytes, wherever it is sent.
const maxReason = 512

// Error is a refusal: the request whose head or framing it names was not
// handed to the server, and the client gets one answer with Status and
// Reason before the connection closes. Status is 400, 431 (head over
// Options.MaxHeaderBytes), 501 (a transfer coding other than chunked, as
// net/http answers) or 505 (an HTTP version other than 1.0 and 1.1).
// Reason is one line of printable ASCII of at most 512 bytes naming what
// was wrong and where.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "gate: " + e.Reason }

// refuse builds a 400 refusal; the arguments are formatted with format.
func refuse(format string, args ...any) *Error {
	return refuseWith(http.StatusBadRequest, format, args...)
}

func refuseWith(status int, format string, args ...any) *Error {
	return &Error{Status: status, Reason: printable(fmt.Sprintf(format, args...))}
}

// quote renders bytes from the request for a reason: Go-quoted, printable
// ASCII only, at most 64 bytes of the input.
func quote(b []byte) string {
	const keep = 64
	if len(b) > keep {
		return strconv.QuoteToASCII(string(b[:keep])) + "..."
	}
	return strconv.QuoteToASCII(string(b))
}

// printable keeps s to printable ASCII and maxReason bytes.
func printable(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c < 0x20 || c > 0x7e {
			out[i] = '?'
		}
	}
	if len(out) > maxReason {
		out = append(out[:maxReason-3], "..."...)
	}
	return string(out)
}

// response is the whole answer to a refusal as it goes on the wire.
func (e *Error) response() []byte {
	body := e.Reason + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"X-Meshlite-Reason: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		e.Status, http.StatusText(e.Status), e.Reason, len(body), body)
}
