package gate

// fieldLines scans header (or trailer) field lines from p[i] on, up to
// and including the blank line that ends the section, where the head is
// checked as a whole and given to emit. It returns where it stopped.
func (s *scanner) fieldLines(p []byte, i int, emit func(Head)) (int, *Error) {
	for i < len(p) {
		b := p[i]
		switch s.st {
		case sFieldStart:
			switch {
			case isToken[b]:
				s.nlen = 0
				s.st = sName
				continue
			case b == '\r':
				s.st = sEndLF
			case b == '\n':
				return i, refuse("bare LF ending a line of the %s section", s.kind())
			case b == ' ' || b == '\t':
				if s.fields == 0 {
					return i, refuse("whitespace before the first %s field", s.kind())
				}
				return i, refuse("obs-fold continuation line in %s %s", s.kind(), quote(s.lastName()))
			case b == ':':
				return i, refuse("%s line with an empty field name", s.kind())
			default:
				return i, refuse("invalid %s at the start of a %s field name", describe(b), s.kind())
			}
		case sName:
			j := run(p, i, &isToken)
			s.keepName(p[i:j])
			if k, err := s.headRun(i, j); err != nil {
				return k, err
			}
			if i = j; i == len(p) {
				return i, nil
			}
			switch b = p[i]; {
			case b == ':':
				if err := s.beginValue(); err != nil {
					return i, err
				}
			case b == ' ' || b == '\t':
				return i, refuse("whitespace before the colon in %s %s", s.kind(), quote(s.lastName()))
			case b == '\r' || b == '\n':
				return i, refuse("%s line %s has no colon", s.kind(), quote(s.lastName()))
			default:
				return i, refuse("invalid %s in %s name %s", describe(b), s.kind(), quote(s.lastName()))
			}
		case sValue:
			j := run(p, i, &isValueByte)
			if k, err := s.headRun(i, j); err != nil {
				return k, err
			}
			if s.field != fOther {
				s.buf = append(s.buf, p[i:j]...)
			}
			if i = j; i == len(p) {
				return i, nil
			}
			switch b = p[i]; b {
			case '\r':
				s.st = sValueLF
			case '\n':
				return i, refuse("bare LF in %s %s", s.kind(), quote(s.lastName()))
			default:
				return i, refuse("control character %s in %s %s", describe(b), s.kind(), quote(s.lastName()))
			}
		case sValueLF:
			if b != '\n' {
				return i, refuse("bare CR in %s %s", s.kind(), quote(s.lastName()))
			}
			if err := s.endField(); err != nil {
				return i, err
			}
			s.st = sFieldStart
		case sEndLF:
			if b != '\n' {
				return i, refuse("bare CR in the blank line ending the %s section", s.kind())
			}
			if err := s.headBytes(1); err != nil {
				return i, err
			}
			if s.trailer {
				s.endMessage()
			} else if err := s.endHead(emit); err != nil {
				return i, err
			}
			return i + 1, nil
		default:
			return i, nil
		}
		if err := s.headBytes(1); err != nil {
			return i, err
		}
		i++
	}
	return i, nil
}

func (s *scanner) kind() string {
	if s.trailer {
		return "trailer"
	}
	return "header"
}

// keepName appends a piece of the current field name.
func (s *scanner) keepName(b []byte) {
	if s.nlen < maxName {
		copy(s.name[s.nlen:], b)
	}
	s.nlen += len(b)
}

func (s *scanner) lastName() []byte { return s.name[:min(s.nlen, maxName)] }

// beginValue classifies the field whose name just ended.
func (s *scanner) beginValue() *Error {
	s.fields++
	s.field = classify(s.name[:min(s.nlen, maxName)], s.nlen)
	if s.trailer {
		if s.field != fOther && s.field != fUpgrade {
			return refuse("field %s is not allowed in a trailer section", quote(s.lastName()))
		}
		s.field = fOther
	}
	if s.field == fUpgrade {
		s.upgrade = true
		s.field = fOther
	}
	s.valStart = len(s.buf)
	s.st = sValue
	return nil
}

func classify(name []byte, n int) fieldKind {
	if n != len(name) {
		return fOther
	}
	switch {
	case equalFold(name, "host"):
		return fHost
	case equalFold(name, "content-length"):
		return fContentLength
	case equalFold(name, "transfer-encoding"):
		return fTransferEncoding
	case equalFold(name, "upgrade"):
		return fUpgrade
	case equalFold(name, "trailer"):
		return fTrailer
	}
	return fOther
}

// endField checks the value of a field the gate reads. A Host value stays
// in buf for the head; any other captured value is dropped from it.
func (s *scanner) endField() *Error {
	raw := s.buf[s.valStart:]
	v := trimOWS(raw)
	switch s.field {
	case fOther:
		return nil
	case fHost:
		if s.seenHost {
			return refuse(`header "Host" given twice`)
		}
		s.seenHost = true
		s.hostStart = s.valStart + (len(raw) - len(trimLeftOWS(raw)))
		s.hostEnd = s.hostStart + len(v)
		return nil
	}
	err := s.framing(v)
	s.buf = s.buf[:s.valStart]
	return err
}

// framing checks a Content-Length, Transfer-Encoding or Trailer value.
func (s *scanner) framing(v []byte) *Error {
	switch s.field {
	case fContentLength:
		if s.seenCL {
			return refuse(`header "Content-Length" given twice`)
		}
		n, ok := parseDecimal(v)
		if !ok {
			return refuse("Content-Length %s is not a plain decimal", quote(v))
		}
		s.seenCL, s.contentLength = true, n
	case fTransferEncoding:
		if s.seenTE {
			return refuse(`header "Transfer-Encoding" given twice`)
		}
		if !equalFold(v, "chunked") {
			return refuseWith(501, "Transfer-Encoding %s is not supported (only chunked)", quote(v))
		}
		s.seenTE, s.chunked = true, true
	case fTrailer:
		return checkTrailerNames(v)
	}
	return nil
}

func trimLeftOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// parseDecimal reads 1 to 18 ASCII digits, nothing else.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > maxCLDigits {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// checkTrailerNames refuses a Trailer header that announces a field that
// frames or routes the request (net/http refuses these too).
func checkTrailerNames(v []byte) *Error {
	for len(v) > 0 {
		name := v
		rest := []byte(nil)
		for i, c := range v {
			if c == ',' {
				name, rest = v[:i], v[i+1:]
				break
			}
		}
		name = trimOWS(name)
		switch {
		case equalFold(name, "host"), equalFold(name, "content-length"),
			equalFold(name, "transfer-encoding"), equalFold(name, "trailer"):
			return refuse("Trailer header announces %s, which may not be a trailer", quote(name))
		}
		v = rest
	}
	return nil
}
