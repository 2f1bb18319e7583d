package gate

// Byte classes, as tables indexed by the byte.
var (
	// isToken: tchar of RFC 9110 section 5.6.2.
	isToken = table(func(b byte) bool {
		return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			b != 0 && indexByte("!#$%&'*+-.^_`|~", b)
	})
	// isTargetByte: what a request-target may hold (no space, no CTL).
	isTargetByte = table(func(b byte) bool { return b > ' ' && b != 0x7f })
	// isValueByte: field-content bytes (HTAB, visible ASCII, obs-text).
	isValueByte = table(func(b byte) bool { return b == '\t' || b >= ' ' && b != 0x7f })
	// hexValue: a hex digit's value plus one; zero for any other byte.
	hexValue = func() (t [256]byte) {
		for b := 0; b < 256; b++ {
			switch {
			case '0' <= b && b <= '9':
				t[b] = byte(b-'0') + 1
			case 'a' <= b && b <= 'f':
				t[b] = byte(b-'a') + 11
			case 'A' <= b && b <= 'F':
				t[b] = byte(b-'A') + 11
			}
		}
		return t
	}()
)

func table(f func(byte) bool) (t [256]bool) {
	for b := 0; b < 256; b++ {
		t[b] = f(byte(b))
	}
	return t
}

func indexByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

// equalFold reports whether b equals the lower-case ASCII string lower,
// ignoring ASCII case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// trimOWS cuts spaces and tabs from both ends of b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// describe names a byte for a reason.
func describe(b byte) string {
	switch {
	case b == '\r':
		return "CR"
	case b == '\n':
		return "LF"
	case b == ' ':
		return "space"
	case b == '\t':
		return "tab"
	case b < ' ' || b >= 0x7f:
		return "byte " + hex2(b)
	}
	return "'" + string(rune(b)) + "'"
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return "0x" + string([]byte{digits[b>>4], digits[b&15]})
}
