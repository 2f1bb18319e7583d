package policy

import "strconv"

// FieldError is one validation problem: where it is and how to fix it.
// Error() reads `spec.egress[1].ports[0]: port 0 out of range (use 1..65535)`.
type FieldError struct {
	Path string // field path, "spec.egress[1].ports[0]"
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// InputError is malformed input from a client (maps to 400).
type InputError struct {
	Field string // "host", "port", ...
	Value string
	Msg   string
}

func (e *InputError) Error() string {
	return "policy: invalid " + e.Field + " " + quote(e.Value) + ": " + e.Msg
}

// ResolveError is a failed name lookup (maps to 502).
type ResolveError struct {
	Host string
	Err  error
}

func (e *ResolveError) Error() string {
	return "policy: resolve " + quote(e.Host) + ": " + e.Err.Error()
}
func (e *ResolveError) Unwrap() error { return e.Err }

// quote quotes s with Go escapes, so that client input cannot break a log
// line or a response header.
func quote(s string) string { return strconv.Quote(s) }
