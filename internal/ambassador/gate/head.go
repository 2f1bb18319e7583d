package gate

import (
	"net/url"

	"golang.org/x/net/http/httpguts"
)

// Head is one checked request head, in arrival order.
type Head struct {
	Method        string
	Target        string // the request-target exactly as sent (origin-form, absolute-form, authority-form for CONNECT, "*")
	Proto         string // "HTTP/1.1" or "HTTP/1.0"
	Host          string // the one Host header value as sent, without surrounding spaces ("" only for HTTP/1.0 without one)
	ContentLength int64  // -1 when the body is chunked; 0 when none
	Chunked       bool
	Upgrade       bool // has an Upgrade header (protocol switch asked)
}

// endHead checks the head as a whole once its blank line is complete,
// hands it to emit and sets up the body.
func (s *scanner) endHead(emit func(Head)) *Error {
	switch {
	case s.http11 && !s.seenHost:
		return refuse("missing Host header (HTTP/1.1 requires one)")
	case s.seenCL && s.chunked:
		return refuse("both Content-Length and Transfer-Encoding: chunked given")
	case s.seenTE && !s.http11:
		return refuse("Transfer-Encoding in an HTTP/1.0 request")
	}
	end := s.targetEnd
	if s.seenHost {
		end = s.hostEnd
	}
	all := string(s.buf[:end]) // the one allocation of a head
	h := Head{
		Method:        all[:s.methodEnd],
		Target:        all[s.methodEnd:s.targetEnd],
		Proto:         "HTTP/1.0",
		ContentLength: s.contentLength,
		Chunked:       s.chunked,
		Upgrade:       s.upgrade,
	}
	if s.http11 {
		h.Proto = "HTTP/1.1"
	}
	if s.seenHost {
		h.Host = all[s.hostStart:s.hostEnd]
		if h.Host == "" {
			return refuse("empty Host header")
		}
		if !httpguts.ValidHostHeader(h.Host) {
			return refuse("invalid Host header %s", quote([]byte(h.Host)))
		}
	}
	if err := checkTarget(&h); err != nil {
		return err
	}
	if s.chunked {
		h.ContentLength = -1
	}
	emit(h)
	switch {
	case s.chunked:
		s.st = sChunkStart
	case s.contentLength > 0:
		s.left = s.contentLength
		s.st = sBody
	default:
		s.endMessage()
	}
	return nil
}

// checkTarget checks the request-target against its form, and the
// authority of an absolute-form or CONNECT target against Host.
func checkTarget(h *Head) *Error {
	t := h.Target
	switch {
	case h.Method == "CONNECT":
		return checkAuthority(h)
	case t[0] == '/':
		return checkPath(t)
	case t == "*":
		if h.Method != "OPTIONS" {
			return refuse("request-target \"*\" is only for OPTIONS, not %s", quote([]byte(h.Method)))
		}
		return nil
	}
	u, err := url.ParseRequestURI(t)
	switch {
	case err != nil:
		return refuse("request-target %s is not a valid URI", quote([]byte(t)))
	case u.Host == "":
		return refuse("absolute-form request-target %s has no host", quote([]byte(t)))
	}
	// An absolute-form host that differs from Host is refused by the
	// pipeline, which compares the two once both are normalised (and after
	// it has said what is wrong with a host it cannot accept at all).
	return nil
}

// checkPath accepts an origin-form target that url.ParseRequestURI
// accepts: every '%' before the query is followed by two hex digits.
func checkPath(t string) *Error {
	for i := 0; i < len(t) && t[i] != '?'; i++ {
		if t[i] == '%' && (i+2 >= len(t) || hexValue[t[i+1]] == 0 || hexValue[t[i+2]] == 0) {
			return refuse("invalid percent-encoding in the request-target path %s", quote([]byte(t)))
		}
	}
	return nil
}

// checkAuthority accepts a CONNECT target that net/http's parser accepts
// (an authority, as "http://" + target parses) without userinfo. Whether
// it is a usable host:port, and whether it matches Host, the pipeline
// decides, with a reason naming what is wrong.
func checkAuthority(h *Head) *Error {
	t := h.Target
	u, err := url.ParseRequestURI("http://" + t)
	if err != nil || u.User != nil || u.Path != "" || u.RawQuery != "" {
		return refuse("CONNECT request-target %s is not host:port", quote([]byte(t)))
	}
	return nil
}
