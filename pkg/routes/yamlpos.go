package routes

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/meshlite/meshlite/pkg/policy"
)

// positions maps field paths of a parsed document to YAML nodes, so that
// decode errors (which know only a line) get a field path, and validation
// errors (which know only a path) get a line.
type positions struct {
	refs   []nodeRef
	byPath map[string]int // path → index in refs
	byLine map[int][]int  // value line → indexes in refs
}

// nodeRef is one field or list item: its path, key node (nil for list
// items) and value node.
type nodeRef struct {
	path string
	key  *yaml.Node
	val  *yaml.Node
}

func indexNodes(root *yaml.Node) *positions {
	p := &positions{}
	p.walk(root, "")
	p.byPath = make(map[string]int, len(p.refs))
	p.byLine = make(map[int][]int)
	for i, r := range p.refs {
		if _, dup := p.byPath[r.path]; !dup {
			p.byPath[r.path] = i
		}
		p.byLine[r.val.Line] = append(p.byLine[r.val.Line], i)
		if r.key != nil && r.key.Line != r.val.Line {
			p.byLine[r.key.Line] = append(p.byLine[r.key.Line], i)
		}
	}
	return p
}

// walk records every field and item below n. Aliases are not followed.
func (p *positions) walk(n *yaml.Node, at string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := k.Value
			if at != "" {
				path = at + "." + k.Value
			}
			p.refs = append(p.refs, nodeRef{path: path, key: k, val: v})
			p.walk(v, path)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			path := at + "[" + strconv.Itoa(i) + "]"
			p.refs = append(p.refs, nodeRef{path: path, val: v})
			p.walk(v, path)
		}
	}
}

// lineOf returns the line of path, or of its nearest written ancestor.
func (p *positions) lineOf(path string) int {
	for path != "" {
		if i, ok := p.byPath[path]; ok {
			if r := p.refs[i]; r.key != nil {
				return r.key.Line
			}
			return p.refs[i].val.Line
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// withLines fills in FieldError.Line from the document.
func (p *positions) withLines(errs problems) problems {
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) && fe.Line == 0 && fe.Path != "" {
			fe.Line = p.lineOf(fe.Path)
		}
	}
	return errs
}

// decodeProblems turns a strict-decoding error into FieldErrors with paths.
func (p *positions) decodeProblems(err error) problems {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		if strings.HasPrefix(err.Error(), "yaml: ") {
			return problems{syntaxError(err)}
		}
		// A field's own unmarshaler failed and stopped the decoder.
		return problems{p.decodeProblem(err.Error())}
	}
	out := make(problems, 0, len(te.Errors))
	for _, msg := range te.Errors {
		out = append(out, p.decodeProblem(msg))
	}
	return out
}

// decodeProblem explains one "line N: ..." message of the YAML decoder.
func (p *positions) decodeProblem(msg string) *FieldError {
	line, rest := splitLine(msg)
	if field, typ, ok := cutUnknownField(rest); ok {
		for _, i := range p.byLine[line] {
			if r := p.refs[i]; r.key != nil && r.key.Line == line && r.key.Value == field {
				return &FieldError{Path: r.path, Line: line, Msg: fmt.Sprintf(
					"unknown field at line %d (allowed here: %s)", line, allowedFields(typ))}
			}
		}
		return &FieldError{Line: line, Msg: fmt.Sprintf("unknown field %q (allowed here: %s)", field, allowedFields(typ))}
	}
	if r := p.valueAt(line, rest); r != nil {
		return &FieldError{Path: r.path, Line: line, Msg: explainDecode(r.fieldName(), rest, line)}
	}
	return &FieldError{Line: line, Msg: rest}
}

// valueAt finds the scalar value at line that rest talks about: the only
// one on the line, or the one whose text rest quotes.
func (p *positions) valueAt(line int, rest string) *nodeRef {
	var found []*nodeRef
	for _, i := range p.byLine[line] {
		r := &p.refs[i]
		if r.val.Line == line && r.val.Kind != yaml.MappingNode && r.val.Kind != yaml.SequenceNode {
			found = append(found, r)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	for _, r := range found {
		v := r.val.Value
		if len(v) > 7 {
			v = v[:7] // the decoder shortens long values to 7 characters
		}
		if strings.Contains(rest, "`"+v) || strings.Contains(rest, strconv.Quote(r.val.Value)) {
			return r
		}
	}
	return nil
}

// splitLine reads the "line N: " prefix of a decoder message.
func splitLine(msg string) (int, string) {
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ": "); ok {
			if v, err := strconv.Atoi(n); err == nil {
				return v, tail
			}
		}
	}
	return 0, msg
}

// onlyUnknownFields reports whether err lists unknown fields and nothing
// else: the decoder went on past them, so the rest of the document is
// decoded.
func onlyUnknownFields(err error) bool {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return false
	}
	for _, msg := range te.Errors {
		if _, rest := splitLine(msg); !isUnknownField(rest) {
			return false
		}
	}
	return true
}

func isUnknownField(s string) bool {
	_, _, ok := cutUnknownField(s)
	return ok
}

// cutUnknownField reads "field X not found in type T".
func cutUnknownField(s string) (field, typ string, ok bool) {
	s, ok = strings.CutPrefix(s, "field ")
	if !ok {
		return "", "", false
	}
	return strings.Cut(s, " not found in type ")
}

// fieldName is the name of the field the node belongs to: its key, or for a
// list item the list's key.
func (r *nodeRef) fieldName() string {
	p := r.path
	if i := strings.IndexByte(p, '['); i >= 0 && r.key == nil {
		p = p[:strings.LastIndexByte(p, '[')]
	}
	return p[strings.LastIndexByte(p, '.')+1:]
}

// explainDecode rewrites the decoder's messages for a reader of the YAML:
// "cannot unmarshal !!str `abc` into int" becomes "expected a whole number,
// got abc"; a field's own message loses a repeated field name. The line is
// added.
func explainDecode(field, rest string, line int) string {
	if key, first, ok := cutDuplicateKey(rest); ok {
		return fmt.Sprintf("%q is written twice, at lines %s and %d (keep one)", key, first, line)
	}
	s, ok := strings.CutPrefix(rest, "cannot unmarshal ")
	if !ok {
		return fmt.Sprintf("%s (line %d)", strings.TrimPrefix(rest, field+": "), line)
	}
	got, into, _ := strings.Cut(s, " into ")
	return fmt.Sprintf("expected %s, got %s (line %d)", describeGoType(into), describeYAML(got), line)
}

// cutDuplicateKey reads `mapping key "x" already defined at line N`.
func cutDuplicateKey(s string) (key, line string, ok bool) {
	s, ok = strings.CutPrefix(s, "mapping key ")
	if !ok {
		return "", "", false
	}
	q, line, ok := strings.Cut(s, " already defined at line ")
	if !ok {
		return "", "", false
	}
	key, err := strconv.Unquote(q)
	return key, line, err == nil
}

func describeYAML(got string) string {
	tag, val, _ := strings.Cut(got, " ")
	switch tag {
	case "!!map":
		return "a mapping"
	case "!!seq":
		return "a list"
	case "!!null":
		return "nothing"
	}
	return strings.Trim(val, "`")
}

func describeGoType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case t == "bool":
		return "true or false"
	case t == "string" || t == "policy.Mode":
		return "a string"
	case wireTypes[strings.TrimPrefix(t, "*")] != nil:
		return "a mapping"
	}
	return t
}

// wireTypes are the document's struct types by the name the decoder uses.
var wireTypes = func() map[string]reflect.Type {
	m := make(map[string]reflect.Type)
	for _, v := range []any{RouteTable{}, Metadata{}, Spec{}, Route{}, RetryPolicy{}, policy.Rule{}} {
		t := reflect.TypeOf(v)
		m[t.String()] = t
	}
	return m
}()

// deprecatedFields are accepted but not offered in allowedFields.
var deprecatedFields = map[string]bool{"routes.RetryPolicy.on": true}

// allowedFields lists the YAML field names of a wire type, deprecated ones
// left out.
func allowedFields(typ string) string {
	t := wireTypes[typ]
	if t == nil {
		return "see the RouteTable format"
	}
	names := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" && !deprecatedFields[typ+"."+name] {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}
