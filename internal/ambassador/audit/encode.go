package audit

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e to dst as one JSON object, without a trailing newline,
// and returns the extended buffer. It allocates nothing when dst has room.
//
// Strings are escaped so that the result is always valid JSON: quotes,
// backslashes and control characters are escaped, invalid UTF-8 becomes
// U+FFFD, and U+2028/U+2029 are escaped so the line is also safe to embed in
// JavaScript. HTML characters (<, >, &) are written as they are.
func AppendJSON(dst []byte, e *Entry) []byte {
	dst = append(dst, `{"`+FieldTime+`":"`...)
	dst = e.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendStringField(dst, FieldID, e.ID)
	dst = appendStringField(dst, FieldDoor, e.Door)
	dst = appendStringField(dst, FieldClient, e.Client)
	dst = appendStringField(dst, FieldMethod, e.Method)
	dst = appendStringField(dst, FieldURL, e.URL)
	dst = appendStringField(dst, FieldRoute, e.Route)
	dst = appendStringField(dst, FieldTarget, e.Target)
	dst = appendStringField(dst, FieldUpstream, e.Upstream)
	dst = appendStringField(dst, FieldDecision, e.Decision)
	dst = appendStringField(dst, FieldReason, e.Reason)
	dst = appendStringField(dst, FieldRule, e.Rule)
	dst = appendKey(dst, FieldStatus)
	dst = strconv.AppendInt(dst, int64(e.Status), 10)
	dst = appendKey(dst, FieldAttempts)
	dst = strconv.AppendInt(dst, int64(e.Attempts), 10)
	dst = appendKey(dst, FieldDurationMS)
	dst = appendMillis(dst, e.Duration)
	dst = appendKey(dst, FieldBytesIn)
	dst = strconv.AppendInt(dst, e.BytesIn, 10)
	dst = appendKey(dst, FieldBytesOut)
	dst = strconv.AppendInt(dst, e.BytesOut, 10)
	dst = appendStringField(dst, FieldTraceID, e.TraceID)
	dst = appendStringField(dst, FieldOriginalDst, e.OriginalDst)
	dst = appendStringField(dst, FieldSNI, e.SNI)
	dst = appendStringField(dst, FieldWorkload, e.Workload)
	dst = appendStringField(dst, FieldNodeID, e.NodeID)
	return append(dst, '}')
}

// appendKey appends `,"key":`. Keys are constants that need no escaping.
func appendKey(dst []byte, key string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendStringField(dst []byte, key, value string) []byte {
	return appendString(appendKey(dst, key), value)
}

// appendMillis writes d as milliseconds with exactly three decimals, rounded
// to the nearest microsecond: 1234567ns → 1.235.
func appendMillis(dst []byte, d time.Duration) []byte {
	abs := uint64(d)
	if d < 0 {
		dst = append(dst, '-')
		abs = uint64(-d) // also right for MinInt64: -d wraps to itself, 2^63 as uint64
	}
	us := (abs + 500) / 1000
	dst = strconv.AppendUint(dst, us/1000, 10)
	frac := us % 1000
	return append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

const hexDigits = "0123456789abcdef"

// plainASCII[c] reports whether the ASCII byte c is written as it is.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a quoted JSON string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending and needs no escaping
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			dst = appendEscapedASCII(append(dst, s[start:i]...), c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
			start = i + size
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendEscapedASCII escapes a quote, a backslash or a control character.
func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	default:
		return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
	}
}
