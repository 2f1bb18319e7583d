package gate

import "net/http"

// requestLine scans the request line from p[i] on: METHOD SP target SP
// HTTP/1.x CRLF, and nothing else (no empty line before it, one space
// between the parts). It returns where it stopped.
func (s *scanner) requestLine(p []byte, i int) (int, *Error) {
	for i < len(p) {
		b := p[i]
		switch s.st {
		case sStart:
			if !isToken[b] {
				if b == '\r' || b == '\n' {
					return i, refuse("empty line before the request line")
				}
				return i, refuse("request line starts with %s, not a method", describe(b))
			}
			s.beginHead()
			s.st = sMethod
			continue
		case sMethod:
			j := run(p, i, &isToken)
			if k, err := s.take(p, i, j); err != nil {
				return k, err
			}
			if i = j; i == len(p) {
				return i, nil
			}
			if b = p[i]; b != ' ' {
				if b == '\r' || b == '\n' {
					return i, refuse("request line has no request-target")
				}
				return i, refuse("invalid %s in the method", describe(b))
			}
			s.methodEnd = len(s.buf)
			s.st = sTargetStart
		case sTargetStart:
			if !isTargetByte[b] {
				return i, refuse("%s where the request-target should start", describe(b))
			}
			s.st = sTarget
			continue
		case sTarget:
			j := run(p, i, &isTargetByte)
			if k, err := s.take(p, i, j); err != nil {
				return k, err
			}
			if i = j; i == len(p) {
				return i, nil
			}
			if b = p[i]; b != ' ' {
				if b == '\r' || b == '\n' {
					return i, refuse("request line has no HTTP version (HTTP/0.9 is not supported)")
				}
				return i, refuse("%s in the request-target", describe(b))
			}
			s.targetEnd = len(s.buf)
			s.st = sVersion
		case sVersion:
			switch {
			case b == '\r':
				s.st = sLineLF
			case b == '\n':
				return i, refuse("bare LF in the request line")
			case s.vlen == len(s.version):
				return i, refuse("malformed HTTP version %s in the request line", quote(append(s.version[:], b)))
			default:
				s.version[s.vlen] = b
				s.vlen++
			}
		case sLineLF:
			if b != '\n' {
				return i, refuse("bare CR in the request line")
			}
			if err := s.checkVersion(); err != nil {
				return i, err
			}
			s.st = sFieldStart
		default:
			return i, nil
		}
		if err := s.headBytes(1); err != nil {
			return i, err
		}
		i++
		if s.st == sFieldStart {
			return i, nil
		}
	}
	return i, nil
}

// take copies p[i:j] into buf and counts it as head bytes.
func (s *scanner) take(p []byte, i, j int) (int, *Error) {
	if k, err := s.headRun(i, j); err != nil {
		return k, err
	}
	s.buf = append(s.buf, p[i:j]...)
	return j, nil
}

// checkVersion accepts HTTP/1.1 and HTTP/1.0. Another well-formed version
// gets 505 as from net/http, except the HTTP/2 prior-knowledge preface,
// which gets 400 as from net/http.
func (s *scanner) checkVersion() *Error {
	v := s.version[:s.vlen]
	switch string(v) {
	case "HTTP/1.1":
		s.http11 = true
		return nil
	case "HTTP/1.0":
		s.http11 = false
		return nil
	}
	wellFormed := len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7])
	switch {
	case !wellFormed:
		return refuse("malformed HTTP version %s in the request line", quote(v))
	case string(v) == "HTTP/2.0" && string(s.buf[:s.methodEnd]) == "PRI" && string(s.buf[s.methodEnd:]) == "*":
		return refuse("HTTP/2 connection preface (prior knowledge) is not supported; use HTTP/1.1")
	}
	return refuseWith(http.StatusHTTPVersionNotSupported, "HTTP version %s not supported (use HTTP/1.1 or HTTP/1.0)", quote(v))
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
