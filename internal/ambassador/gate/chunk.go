package gate

// chunk scans chunked framing from p[i] on: hex size, optional extensions
// without control characters, CRLF, data, CRLF, and after the last chunk
// the trailer section (scanned by fieldLines). It returns where it stopped.
func (s *scanner) chunk(p []byte, i int) (int, *Error) {
	for i < len(p) {
		if s.st == sChunkData {
			n := int(min(s.left, int64(len(p)-i)))
			i += n
			if s.left -= int64(n); s.left == 0 {
				s.st = sChunkDataCR
			}
			continue
		}
		b := p[i]
		switch s.st {
		case sChunkStart:
			if hexValue[b] == 0 {
				return i, refuse("chunk-size line starts with %s, not a hex digit", describe(b))
			}
			s.left, s.digits, s.line = 0, 0, 0
			s.st = sChunkSize
			continue
		case sChunkSize:
			if err := s.sizeByte(b); err != nil {
				return i, err
			}
		case sChunkExt:
			j := run(p, i, &isValueByte)
			if room := maxChunkLine - s.line; j-i > room { // cut where the limit falls, whatever the reads
				return i + max(room, 0), refuse("chunk extensions over %d bytes", maxChunkLine)
			}
			s.line += j - i
			if i = j; i == len(p) {
				return i, nil
			}
			switch b = p[i]; b {
			case '\r':
				s.st = sChunkSizeLF
			case '\n':
				return i, refuse("bare LF in a chunk extension")
			default:
				return i, refuse("control character %s in a chunk extension", describe(b))
			}
		case sChunkSizeLF:
			if b != '\n' {
				return i, refuse("bare CR in a chunk-size line")
			}
			if err := s.countExcess(); err != nil {
				return i, err
			}
			if s.left == 0 {
				s.trailer, s.size, s.fields = true, 0, 0
				s.st = sFieldStart
				return i + 1, nil
			}
			s.st = sChunkData
		case sChunkDataCR:
			if b != '\r' {
				return i, refuse("chunk data longer than its size (no CRLF after it)")
			}
			s.st = sChunkDataLF
		case sChunkDataLF:
			if b != '\n' {
				return i, refuse("bare CR after chunk data")
			}
			s.st = sChunkStart
		default:
			return i, nil
		}
		s.line++
		i++
	}
	return i, nil
}

// sizeByte takes one byte of a chunk size.
func (s *scanner) sizeByte(b byte) *Error {
	if v := hexValue[b]; v != 0 {
		if s.digits == maxChunkDigit {
			return refuse("chunk size over %d hex digits", maxChunkDigit)
		}
		s.left = s.left<<4 | int64(v-1)
		s.digits++
		return nil
	}
	switch b {
	case ';':
		s.st = sChunkExt
	case '\r':
		s.st = sChunkSizeLF
	case '\n':
		return refuse("bare LF in a chunk-size line")
	default:
		return refuse("invalid %s in a chunk size", describe(b))
	}
	return nil
}

// countExcess counts a finished chunk-size line the way net/http does:
// the line and the CRLF after the data, less 16 bytes per chunk and twice
// the chunk's data.
func (s *scanner) countExcess() *Error {
	s.excess += int64(s.line-1) + 2 // s.line counted the CR
	s.excess = max(s.excess-16-2*s.left, 0)
	if s.excess > maxChunkExcess {
		return refuse("chunked body with too much framing for its data (chunk extensions or tiny chunks)")
	}
	return nil
}
