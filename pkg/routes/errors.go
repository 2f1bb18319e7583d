package routes

import (
	"errors"
	"fmt"
	"strconv"
)

// FieldError is one problem in a RouteTable: where it is and how to fix it.
// Error() reads `spec.routes[2].target: scheme "ftp" not supported (use http
// or https)`. Problems with the document as a whole (size, YAML syntax, more
// than one document) have an empty Path.
type FieldError struct {
	Path string // field path, "spec.routes[2].target"; "" for the whole document
	Msg  string // what is wrong and how to fix it
	// Line is the 1-based line of the field in the YAML source, 0 when
	// unknown (for example when the table was not parsed from YAML).
	Line int
}

func (e *FieldError) Error() string {
	switch {
	case e.Path != "":
		return e.Path + ": " + e.Msg
	case e.Line > 0:
		return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
	default:
		return e.Msg
	}
}

// Problems splits an error returned by Parse, Load, Validate or Compile into
// its individual problems (one per line of its message). A nil error gives
// nil; an error that is not a joined list gives a list of one.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// problems collects validation errors in document order.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p problems) err() error { return errors.Join(p...) }
