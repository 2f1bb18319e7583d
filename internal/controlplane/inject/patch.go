package inject

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Op is one JSON Patch (RFC 6902) operation. Injection only adds, so "add"
// is the only op it produces: the webhook returns the list as is, and
// Apply carries it out on a decoded YAML document.
type Op struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

func add(path string, v any) (Op, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return Op{}, fmt.Errorf("inject: %s: %w", path, err)
	}
	return Op{Op: "add", Path: path, Value: raw}, nil
}

// escape makes a map key a JSON Pointer segment (RFC 6901).
func escape(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

func unescape(seg string) string {
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
}

// Apply carries out add operations on doc, a document decoded from JSON
// (maps, slices, scalars), and returns the result: RFC 6902 "add" on an
// object member sets it, on an array index inserts there, and "-" appends.
func Apply(doc any, ops []Op) (any, error) {
	for _, op := range ops {
		if op.Op != "add" {
			return nil, fmt.Errorf("inject: patch op %q at %s: only add is supported", op.Op, op.Path)
		}
		var v any
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return nil, fmt.Errorf("inject: patch value at %s: %w", op.Path, err)
		}
		segs := strings.Split(op.Path, "/")
		if op.Path == "" || segs[0] != "" {
			return nil, fmt.Errorf("inject: patch path %q: not a JSON pointer", op.Path)
		}
		var err error
		if doc, err = addAt(doc, segs[1:], v, op.Path); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// addAt adds v at the pointer segs below node and returns the new node
// (a slice may be reallocated).
func addAt(node any, segs []string, v any, path string) (any, error) {
	key := unescape(segs[0])
	last := len(segs) == 1
	switch n := node.(type) {
	case map[string]any:
		if last {
			n[key] = v
			return n, nil
		}
		child, ok := n[key]
		if !ok {
			return nil, fmt.Errorf("inject: patch path %s: %q does not exist", path, key)
		}
		c, err := addAt(child, segs[1:], v, path)
		n[key] = c
		return n, err
	case []any:
		i := len(n)
		if key != "-" {
			var err error
			if i, err = strconv.Atoi(key); err != nil || i < 0 || i > len(n) || !last && i == len(n) {
				return nil, fmt.Errorf("inject: patch path %s: index %q out of range", path, key)
			}
		}
		if last {
			return append(n[:i], append([]any{v}, n[i:]...)...), nil
		}
		c, err := addAt(n[i], segs[1:], v, path)
		n[i] = c
		return n, err
	}
	return nil, fmt.Errorf("inject: patch path %s: %q is below a value that is neither an object nor an array", path, key)
}
