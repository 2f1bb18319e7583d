package gate

// The scanner is a byte-level state machine over one connection's request
// stream. It runs over each read in place and says how many of the bytes
// may be handed on; it never looks back at bytes it has passed, so the
// parts of a head that the end-of-head checks need (method, target, Host
// and the values of the framing fields) are copied into buf as they go by.

// state is where the scanner is in the stream.
type state uint8

const (
	sStart       state = iota // first byte of a request line
	sMethod                   // in the method
	sTargetStart              // first byte of the request-target
	sTarget                   // in the request-target
	sVersion                  // in the HTTP version
	sLineLF                   // the CR ending the request line was seen
	sFieldStart               // first byte of a field line, or of the blank line
	sName                     // in a field name
	sValue                    // in a field value
	sValueLF                  // the CR ending a field line was seen
	sEndLF                    // the CR of the blank line was seen
	sBody                     // in a Content-Length body
	sChunkStart               // first byte of a chunk-size line
	sChunkSize                // in the chunk size
	sChunkExt                 // in chunk extensions
	sChunkSizeLF              // the CR ending a chunk-size line was seen
	sChunkData                // in chunk data
	sChunkDataCR              // chunk data done, CR expected
	sChunkDataLF              // chunk data done, LF expected
	sHeld                     // after a CONNECT or Upgrade message: nothing more is checked
	sRefused                  // a refusal was found: nothing more is handed on
)

// fieldKind names the fields the gate reads the value of.
type fieldKind uint8

const (
	fOther fieldKind = iota
	fHost
	fContentLength
	fTransferEncoding
	fUpgrade
	fTrailer
)

const (
	maxName      = 64   // bytes of a field name kept for reasons
	maxChunkLine = 4000 // bytes of a chunk-size line, extensions included (net/http: under 4096)
	// net/http refuses a chunked body whose framing, beyond 16 bytes per
	// chunk plus twice the chunk's data, adds up to more than 16 KiB.
	maxChunkExcess = 16 << 10
	maxChunkDigit  = 15 // hex digits of a chunk size (under 2^60)
	maxCLDigits    = 18 // decimal digits of a Content-Length (fits int64)
)

// scanner is the state of one connection's request stream. Only the
// goroutine reading the connection touches it.
type scanner struct {
	st      state
	max     int  // Options.MaxHeaderBytes, resolved
	size    int  // bytes of the current head or trailer section
	trailer bool // the field states are reading a trailer section
	inBody  bool // the refusal is in the body of a head already handed on

	// buf holds the method, the target and the Host value of the head
	// being read (at [:methodEnd], [methodEnd:targetEnd],
	// [hostStart:hostEnd]) and, for a while, another captured value.
	buf                  []byte
	methodEnd, targetEnd int
	hostStart, hostEnd   int
	version              [8]byte
	vlen                 int
	http11               bool

	name     [maxName]byte // the current field name, cut at maxName
	nlen     int           // its full length
	fields   int           // field lines seen in this section
	field    fieldKind
	valStart int // where the current value starts in buf

	seenHost, seenCL, seenTE, chunked, upgrade bool
	contentLength                              int64

	left   int64 // bytes left in the body or the chunk
	line   int   // bytes of the current chunk-size line
	excess int64 // chunk framing overhead, counted as net/http counts it
	digits int   // hex digits of the current chunk size
}

// beginHead resets the per-request facts.
func (s *scanner) beginHead() {
	s.buf = s.buf[:0]
	s.size, s.vlen, s.fields, s.trailer = 0, 0, 0, false
	s.seenHost, s.seenCL, s.seenTE, s.chunked, s.upgrade = false, false, false, false, false
	s.contentLength, s.excess = 0, 0
}

// headBytes counts n more bytes of the head or trailer section.
func (s *scanner) headBytes(n int) *Error {
	s.size += n
	if s.size <= s.max {
		return nil
	}
	return s.tooLarge()
}

// tooLarge is the refusal of a head or trailer section over the limit
// (apart from headBytes, so that headBytes is inlined).
//
//go:noinline
func (s *scanner) tooLarge() *Error {
	what := "request head"
	if s.trailer {
		what = "trailer section"
	}
	return refuseWith(431, "%s over %d bytes", what, s.max)
}

// headRun counts the run p[i:j] of the head or trailer section. Over the
// limit, it returns where the limit falls, so that the bytes handed on do
// not depend on how the stream was cut into reads.
func (s *scanner) headRun(i, j int) (int, *Error) {
	room := s.max - s.size
	if err := s.headBytes(j - i); err != nil {
		return i + max(room, 0), err
	}
	return j, nil
}

// scan checks p, the next bytes of the stream. It returns how many of them
// may be handed on, and the refusal if one was found (the bytes from the
// offending one on are never handed on). emit receives each head that
// passed, before its last byte is counted as released.
func (s *scanner) scan(p []byte, emit func(Head)) (int, *Error) {
	i := 0
	for i < len(p) {
		var err *Error
		switch s.st {
		case sStart, sMethod, sTargetStart, sTarget, sVersion, sLineLF:
			i, err = s.requestLine(p, i)
		case sFieldStart, sName, sValue, sValueLF, sEndLF:
			i, err = s.fieldLines(p, i, emit)
		case sBody:
			n := int(min(s.left, int64(len(p)-i)))
			i += n
			if s.left -= int64(n); s.left == 0 {
				s.endMessage()
			}
		case sChunkStart, sChunkSize, sChunkExt, sChunkSizeLF, sChunkData, sChunkDataCR, sChunkDataLF:
			i, err = s.chunk(p, i)
		case sHeld, sRefused:
			return i, nil
		}
		if err != nil {
			s.inBody = s.trailer || sBody <= s.st && s.st < sHeld
			s.st = sRefused
			return i, err
		}
	}
	return i, nil
}

// endMessage moves on to the next request, or holds after a message
// whose following bytes may be tunnel data.
func (s *scanner) endMessage() {
	s.trailer = false
	if s.upgrade || string(s.buf[:s.methodEnd]) == "CONNECT" {
		s.st = sHeld
		return
	}
	s.st = sStart
}

// run returns the end of the run of bytes from i on for which ok is true.
func run(p []byte, i int, ok *[256]bool) int {
	for i < len(p) && ok[p[i]] {
		i++
	}
	return i
}
