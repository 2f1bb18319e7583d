package routes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxDocumentSize is the largest RouteTable document Parse and Load accept.
const MaxDocumentSize = 1 << 20 // 1 MiB

// Parse decodes one RouteTable YAML document strictly and validates it.
// Unknown fields, an apiVersion other than meshlite/v1, a kind other than
// RouteTable, empty input and more than one document are rejected. The
// error joins every problem (errors.Join of *FieldError, plus the egress
// rules' own errors), one per line; FieldError.Line gives the YAML line.
func Parse(data []byte) (*RouteTable, error) {
	rt, _, err := ParseWarn(data)
	return rt, err
}

// ParseWarn is Parse that also returns the warnings of a valid table: one
// per deprecated field it accepted (retry.on, now retryOn), with its path
// and line. The table returned uses the current names only.
func ParseWarn(data []byte) (*RouteTable, []*Warning, error) {
	if len(data) > MaxDocumentSize {
		return nil, nil, &FieldError{Msg: fmt.Sprintf(
			"document is %d bytes, over the %d-byte (1 MiB) limit (split it by workload)", len(data), MaxDocumentSize)}
	}
	root, err := parseNode(data)
	if err != nil {
		return nil, nil, err
	}
	// The index of field paths and lines is built only when a problem or a
	// warning needs a line: a valid table without deprecated fields, the
	// common case, goes without.
	var pos *positions
	index := func() *positions {
		if pos == nil {
			pos = indexNodes(root)
		}
		return pos
	}
	if p := headerProblems(root); len(p) > 0 {
		return nil, nil, index().withLines(p).err()
	}
	var rt RouteTable
	if err := decode(data, root, &rt); err != nil {
		p := index().decodeProblems(err)
		if onlyUnknownFields(err) {
			// The rest of the document decoded: report its problems too, so
			// that a misspelt key shows with what it leaves missing.
			p = append(p, index().withLines(rt.validate())...)
		}
		return nil, nil, p.err()
	}
	warnings := rt.moveDeprecated(func(path string) int { return index().lineOf(path) })
	if p := rt.validate(); len(p) > 0 {
		return nil, nil, index().withLines(p).err()
	}
	return &rt, warnings, nil
}

// decode fills rt from the document's node tree when it has no unknown
// field, and otherwise decodes the text again with unknown fields
// rejected, so that the decoder's errors name each of them.
func decode(data []byte, root *yaml.Node, rt *RouteTable) error {
	if knownFieldsOnly(root, routeTableType) {
		return root.Decode(rt)
	}
	return decodeStrict(data, rt)
}

// decodeStrict decodes the text with unknown fields rejected.
func decodeStrict(data []byte, rt *RouteTable) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(rt)
}

var routeTableType = reflect.TypeOf(RouteTable{})

// Load reads and parses a RouteTable file. Each problem is prefixed with
// the file name as given ("routes.yaml: spec.routes[0].target: ..."); the
// *FieldError values stay reachable with errors.As.
func Load(path string) (*RouteTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("routes: read %s: %w", path, err)
	}
	rt, err := Parse(data)
	if err != nil {
		var each []error
		for _, e := range Problems(err) {
			each = append(each, fmt.Errorf("%s: %w", path, e))
		}
		return nil, errors.Join(each...)
	}
	return rt, nil
}

// parseNode reads exactly one YAML document and returns its top node, which
// must be a mapping.
func parseNode(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errEmpty()
		}
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &FieldError{Line: next.Line, Msg: "a second YAML document starts here " +
			"(put one RouteTable per file; remove the \"---\")"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, errEmpty()
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &FieldError{Line: root.Line, Msg: "the document must be a mapping " +
			"(with apiVersion: meshlite/v1, kind: RouteTable, metadata and spec)"}
	}
	return root, nil
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func errEmpty() error {
	return &FieldError{Msg: "empty document (write a RouteTable: apiVersion: meshlite/v1, " +
		"kind: RouteTable, metadata and spec)"}
}

// syntaxError turns a YAML parser error ("yaml: line 3: ...") into a
// FieldError carrying the line.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if v, err := strconv.Atoi(n); err == nil {
				line, msg = v, tail
			}
		}
	}
	return &FieldError{Line: line, Msg: "invalid YAML: " + msg}
}

// headerProblems checks apiVersion and kind before the rest is decoded, so
// that a document of another kind gets one clear error instead of a list
// of unknown fields.
func headerProblems(root *yaml.Node) problems {
	var apiVersion, kind string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			continue
		}
		switch k.Value {
		case "apiVersion":
			apiVersion = v.Value
		case "kind":
			kind = v.Value
		}
	}
	var p problems
	p.typeMeta(apiVersion, kind)
	return p
}
