package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// designFields is the audit line as DESIGN.md §4 and the README define it
// (schema version 1); the constants must never drift from it, and new
// fields are only ever appended.
var designFields = []string{
	"ts", "id", "door", "client", "method", "url", "route", "target",
	"upstream", "decision", "reason", "rule", "status", "attempts",
	"duration_ms", "bytes_in", "bytes_out", "trace_id", "original_dst", "sni",
	"workload", "node_id",
}

func sampleEntry() *Entry {
	return &Entry{
		Time:        time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 2*3600)),
		ID:          "req-1",
		Door:        "forward",
		Client:      "127.0.0.1:50312",
		Method:      "GET",
		URL:         "http://localhost/api?x=1&y=<2>",
		Route:       "rng",
		Target:      "http://numbers-api/sixeyed/kiamol/master/ch03/numbers/rng",
		Upstream:    "10.0.0.7:80",
		Decision:    "allow",
		Reason:      `route "rng" maps localhost/api`,
		Rule:        "rng",
		Status:      200,
		Attempts:    2,
		Duration:    12345678 * time.Nanosecond,
		BytesIn:     17,
		BytesOut:    4096,
		TraceID:     "4bf92f3577b34da6a3ce929d0e0e4736",
		OriginalDst: "198.18.0.2:443",
		SNI:         "api.example.com",
		Workload:    "numbers-web",
		NodeID:      "numbers-web-7d9f8-x2k4q",
	}
}

func TestAppendJSONFieldOrder(t *testing.T) {
	if len(Fields) != len(designFields) {
		t.Fatalf("Fields has %d names, design has %d", len(Fields), len(designFields))
	}
	for i, name := range designFields {
		if Fields[i] != name {
			t.Errorf("Fields[%d] = %q, want %q", i, Fields[i], name)
		}
	}
	got := keysInOrder(t, AppendJSON(nil, sampleEntry()))
	if strings.Join(got, ",") != strings.Join(designFields, ",") {
		t.Errorf("keys in order:\n got %v\nwant %v", got, designFields)
	}
}

// keysInOrder returns the top-level keys of a JSON object in document order.
func keysInOrder(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("decode key in %s: %v", line, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("decode value in %s: %v", line, err)
		}
	}
	return keys
}

func TestAppendJSONValuesRoundTrip(t *testing.T) {
	e := sampleEntry()
	line := AppendJSON(nil, e)
	got := decodeLine(t, line)
	want := map[string]string{
		"ts": "2024-05-06T05:08:09.123456789Z", "id": e.ID, "door": e.Door,
		"client": e.Client, "method": e.Method, "url": e.URL, "route": e.Route,
		"target": e.Target, "upstream": e.Upstream, "decision": e.Decision,
		"reason": e.Reason, "rule": e.Rule, "status": "200", "attempts": "2",
		"duration_ms": "12.346", "bytes_in": "17", "bytes_out": "4096",
		"trace_id": e.TraceID, "original_dst": e.OriginalDst, "sni": e.SNI,
		"workload": e.Workload, "node_id": e.NodeID,
	}
	assertFields(t, got, want)
}

func decodeLine(t *testing.T, line []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("line is not valid JSON: %v\n%q", err, line)
	}
	return m
}

func assertFields(t *testing.T, got map[string]any, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d fields, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("field %q missing", k)
			continue
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		default:
			t.Errorf("field %q has type %T", k, v)
		}
		if s != w {
			t.Errorf("field %q = %q, want %q", k, s, w)
		}
	}
}

func TestAppendJSONEscapesStrings(t *testing.T) {
	tests := []struct {
		name, in, raw string
	}{
		{"plain ASCII passes through", "GET /api", `"GET /api"`},
		{"empty string", "", `""`},
		{"double quote", `say "hi"`, `"say \"hi\""`},
		{"backslash", `C:\dir\`, `"C:\\dir\\"`},
		{"newline carriage return tab", "a\nb\rc\td", `"a\nb\rc\td"`},
		{"other control characters", "\x00\x01\x08\x0c\x1f", `"\u0000\u0001\u0008\u000c\u001f"`},
		{"DEL is not a control character in JSON", "\x7f", "\"\x7f\""},
		{"HTML characters are not escaped", "<a href='x'>&amp;</a>", `"<a href='x'>&amp;</a>"`},
		{"valid multi-byte UTF-8", "héllo 世界 🚀", `"héllo 世界 🚀"`},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"each invalid byte replaced", "\xc3\x28\xff", `"\ufffd(\ufffd"`},
		{"truncated rune at end", "ok\xe4\xb8", `"ok\ufffd\ufffd"`},
		{"encoded replacement character stays", "\uFFFD", "\"\uFFFD\""},
		{"line and paragraph separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"log injection attempt", "x\"}\n{\"decision\":\"allow", `"x\"}\n{\"decision\":\"allow"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := string(appendString(nil, tt.in))
			if raw != tt.raw {
				t.Errorf("appendString(%q) = %s, want %s", tt.in, raw, tt.raw)
			}
			e := sampleEntry()
			e.URL, e.Reason, e.Client, e.NodeID = tt.in, tt.in, tt.in, tt.in
			line := AppendJSON(nil, e)
			if bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line contains a raw newline: %q", line)
			}
			got := decodeLine(t, line)
			want := string([]rune(tt.in)) // each invalid byte becomes U+FFFD
			for _, k := range []string{FieldURL, FieldReason, FieldClient, FieldNodeID} {
				if got[k] != want {
					t.Errorf("field %s decoded to %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

func TestAppendJSONTimeAndNumbers(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Entry)
		want map[string]string
	}{
		{"time converted to UTC with nanoseconds", func(e *Entry) {
			e.Time = time.Date(2024, 1, 2, 23, 30, 0, 5, time.FixedZone("W", -3600))
		}, map[string]string{FieldTime: "2024-01-03T00:30:00.000000005Z"}},
		{"zero duration", func(e *Entry) { e.Duration = 0 }, map[string]string{FieldDurationMS: "0.000"}},
		{"rounds half a microsecond up", func(e *Entry) { e.Duration = 500 }, map[string]string{FieldDurationMS: "0.001"}},
		{"rounds below half a microsecond down", func(e *Entry) { e.Duration = 499 }, map[string]string{FieldDurationMS: "0.000"}},
		{"whole seconds", func(e *Entry) { e.Duration = 90 * time.Second }, map[string]string{FieldDurationMS: "90000.000"}},
		{"fraction keeps leading zeros", func(e *Entry) { e.Duration = 3*time.Millisecond + 7*time.Microsecond }, map[string]string{FieldDurationMS: "3.007"}},
		{"negative duration", func(e *Entry) { e.Duration = -1500 * time.Microsecond }, map[string]string{FieldDurationMS: "-1.500"}},
		{"most negative duration", func(e *Entry) { e.Duration = math.MinInt64 }, map[string]string{FieldDurationMS: "-9223372036854.776"}},
		{"largest duration", func(e *Entry) { e.Duration = math.MaxInt64 }, map[string]string{FieldDurationMS: "9223372036854.776"}},
		{"client went away", func(e *Entry) { e.Status, e.Attempts = 499, 0 }, map[string]string{FieldStatus: "499", FieldAttempts: "0"}},
		{"large byte counts", func(e *Entry) { e.BytesIn, e.BytesOut = math.MaxInt64, -1 }, map[string]string{
			FieldBytesIn: "9223372036854775807", FieldBytesOut: "-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEntry()
			tt.edit(e)
			got := decodeLine(t, AppendJSON(nil, e))
			for k, w := range tt.want {
				n, ok := got[k].(json.Number)
				s := string(n)
				if !ok {
					s, _ = got[k].(string)
				}
				if s != w {
					t.Errorf("%s = %v, want %s", k, got[k], w)
				}
			}
		})
	}
}

func TestAppendJSONAppendsToExistingBuffer(t *testing.T) {
	dst := []byte("prefix ")
	out := AppendJSON(dst, sampleEntry())
	if !bytes.HasPrefix(out, []byte("prefix {")) {
		t.Fatalf("output does not extend dst: %q", out)
	}
	decodeLine(t, out[len("prefix "):])
}

func TestAppendJSONZeroAllocs(t *testing.T) {
	e := sampleEntry()
	e.Reason = "quote \" backslash \\ newline \n invalid \xff sep \u2028 世界"
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		buf = AppendJSON(buf[:0], e)
	})
	if allocs != 0 {
		t.Errorf("AppendJSON allocated %.1f times per call, want 0", allocs)
	}
}

func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c\n", "\xff\xfe", "\u2028<&>", "\x00\x1f\x7f"} {
		f.Add(s, int64(12345))
	}
	f.Fuzz(func(t *testing.T, s string, d int64) {
		e := sampleEntry()
		e.URL, e.Duration = s, time.Duration(d)
		line := AppendJSON(nil, e)
		if !json.Valid(line) {
			t.Fatalf("invalid JSON for %q: %s", s, line)
		}
		got := decodeLine(t, line)
		if want := string([]rune(s)); got[FieldURL] != want {
			t.Fatalf("url %q decoded to %q, want %q", s, got[FieldURL], want)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	e := sampleEntry()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], e)
	}
	b.SetBytes(int64(len(buf)))
}
