package routes

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/pkg/policy"
)

// mustCompile parses and compiles a RouteTable written in YAML.
func mustCompile(t testing.TB, doc string) *Table {
	t.Helper()
	rt, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tbl, err := Compile(rt, policy.Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tbl
}

// header is the start of every test document.
const header = `apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: numbers-web
spec:
`

// fieldErrors returns the *FieldError of every problem in err.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	var out []*FieldError
	for _, e := range Problems(err) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("problem %q is not a *FieldError", e)
		}
		out = append(out, fe)
	}
	return out
}

// lines splits an error message into its lines.
func lines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}
