package routes

import (
	"reflect"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// knownFieldsOnly reports whether decoding n into a value of type t would
// find no unknown field: every mapping key below n that the decoder would
// match against a struct names one of its fields. It walks the node tree
// the way the YAML decoder does, so that a document can be decoded from the
// tree it was parsed into (yaml.Node.Decode, which cannot reject unknown
// fields) instead of being parsed a second time by a strict decoder.
//
// It answers false when it finds an unknown field and also when it cannot
// be sure: an alias, a merge key (<<), a key that is not a plain string, a
// struct with inline fields. The caller then decodes strictly from the
// text, whose errors name each unknown field; a false answer costs time,
// never correctness. A true answer must never be wrong.
func knownFieldsOnly(n *yaml.Node, t reflect.Type) bool {
	if n.Kind == yaml.AliasNode {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if ownUnmarshaler(t) || isNull(n) {
		// The type reads its node itself, in both ways of decoding; a null
		// leaves the value alone.
		return true
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields, ok := fieldTypes(t)
		if !ok {
			return false
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			ft, known := fields[plainKey(n.Content[i])]
			if !known || !knownFieldsOnly(n.Content[i+1], ft) {
				return false
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.AliasNode || k.ShortTag() == "!!merge" ||
				!knownFieldsOnly(n.Content[i+1], t.Elem()) {
				return false
			}
		}
	case n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for _, item := range n.Content {
			if !knownFieldsOnly(item, t.Elem()) {
				return false
			}
		}
	}
	// Any other pairing is a type mismatch, which both ways of decoding
	// report alike, or a value (an interface) that takes any mapping.
	return true
}

// plainKey is the field name a key node stands for, or "" (no field has
// that name) when the key is not a plain string: the caller then takes the
// strict path, whose decoder says what is wrong with it.
func plainKey(k *yaml.Node) string {
	if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
		return ""
	}
	return k.Value
}

// ownUnmarshaler reports whether the decoder hands values of t to their own
// UnmarshalYAML method instead of matching fields.
func ownUnmarshaler(t reflect.Type) bool {
	_, ok := reflect.PointerTo(t).MethodByName("UnmarshalYAML")
	return ok
}

var fieldTypeCache sync.Map // reflect.Type → fieldSet

type fieldSet struct {
	types map[string]reflect.Type // YAML name → field type
	ok    bool                    // false: a layout fieldTypes does not model
}

// fieldTypes maps the YAML names of struct t's fields to their types, with
// the decoder's rules: the yaml tag's name, else the lower-cased field
// name; "-" and unexported fields left out. ok is false for inline fields,
// which the walk does not follow.
func fieldTypes(t reflect.Type) (map[string]reflect.Type, bool) {
	if v, ok := fieldTypeCache.Load(t); ok {
		fs := v.(fieldSet)
		return fs.types, fs.ok
	}
	fs := fieldSet{types: make(map[string]reflect.Type, t.NumField()), ok: true}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.PkgPath != "" && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "" && !strings.Contains(string(f.Tag), ":") {
			tag = string(f.Tag)
		}
		if tag == "-" {
			continue
		}
		name, flags, _ := strings.Cut(tag, ",")
		if strings.Contains(","+flags+",", ",inline,") {
			fs.ok = false
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs.types[name] = f.Type
	}
	fieldTypeCache.Store(t, fs)
	return fs.types, fs.ok
}
