package schematest_test

import (
	"strings"
	"testing"
	"time"

	auditv1 "github.com/meshlite/meshlite/api/audit/v1"
	"github.com/meshlite/meshlite/internal/ambassador/audit"
	"github.com/meshlite/meshlite/internal/ambassador/audit/schematest"
)

// goodLine is an audit line as the encoder writes it.
func goodLine() string {
	return string(audit.AppendJSON(nil, &audit.Entry{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), ID: "r1", Door: "forward", Client: "127.0.0.1:5000",
		Method: "GET", URL: "http://a.test/", Decision: "would_deny", Status: 200, Attempts: 1,
		Duration: 1500 * time.Microsecond, Workload: "web", NodeID: "web-0",
	}))
}

func TestValidateAcceptsAnEncodedLine(t *testing.T) {
	if err := schematest.Validate(auditv1.Schema, []byte(goodLine())); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(string) string
		wantError string
	}{
		{"a missing field", func(l string) string { return strings.Replace(l, `"id":"r1",`, "", 1) },
			`required field "id" is missing`},
		{"an unknown field", func(l string) string { return strings.Replace(l, `{`, `{"extra":1,`, 1) },
			`/extra: field is not in the schema`},
		{"a number as a string", func(l string) string { return strings.Replace(l, `"status":200`, `"status":"200"`, 1) },
			`/status: "200" is not of type integer`},
		{"a fraction where an integer belongs", func(l string) string { return strings.Replace(l, `"attempts":1`, `"attempts":1.5`, 1) },
			`/attempts: 1.5 is not of type integer`},
		{"a decision outside the enum", func(l string) string { return strings.Replace(l, `"would_deny"`, `"maybe"`, 1) },
			`/decision: "maybe" is not one of ["allow","deny","would_deny"]`},
		{"a door outside the enum", func(l string) string { return strings.Replace(l, `"forward"`, `"explain"`, 1) },
			`/door: "explain" is not one of`},
		{"a negative count", func(l string) string { return strings.Replace(l, `"bytes_in":0`, `"bytes_in":-1`, 1) },
			`/bytes_in: -1 is below the minimum 0`},
		{"a time that is not RFC 3339", func(l string) string {
			return strings.Replace(l, `"2026-01-02T03:04:05.000000006Z"`, `"2026-01-02 03:04:05"`, 1)
		}, `/ts: "2026-01-02 03:04:05" is not an RFC 3339 date-time`},
		{"null for a string", func(l string) string { return strings.Replace(l, `"node_id":"web-0"`, `"node_id":null`, 1) },
			`/node_id: null is not of type string`},
		{"two values", func(l string) string { return l + l }, `more than one JSON value`},
		{"not JSON", func(l string) string { return l[:len(l)-1] }, `schematest: document`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := tt.edit(goodLine())
			if line == goodLine() {
				t.Fatal("the edit changed nothing")
			}
			err := schematest.Validate(auditv1.Schema, []byte(line))
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Errorf("Validate(%s) = %v, want an error containing %q", line, err, tt.wantError)
			}
		})
	}
}

func TestValidateRefusesKeywordsItDoesNotKnow(t *testing.T) {
	for _, schema := range []string{
		`{"type":"object","properties":{"a":{"type":"string","pattern":"^x"}}}`,
		`{"type":"string","format":"uri"}`,
		`{"oneOf":[{"type":"string"}]}`,
	} {
		if err := schematest.Validate([]byte(schema), []byte(`{"a":"x"}`)); err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("schema %s: error %v, want one saying the keyword is not supported", schema, err)
		}
	}
}
