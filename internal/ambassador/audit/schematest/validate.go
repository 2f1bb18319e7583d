// Package schematest checks JSON documents against a JSON Schema
// (draft 2020-12) that uses only the keywords meshlite's schema files use:
// type, enum, minimum, format (date-time), required, properties and
// additionalProperties, plus the annotations $schema, $id, title and
// description. Any other keyword is an error, so a schema that grows a
// keyword cannot pass unchecked. Tests import it to hold real output to
// the published contract.
package schematest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
)

// Validate reports every way doc breaks schema; nil means doc conforms.
// Each problem names where it is, as a JSON pointer-like path ("/status").
func Validate(schema, doc []byte) error {
	s, err := decode(schema)
	if err != nil {
		return fmt.Errorf("schematest: schema: %w", err)
	}
	sm, ok := s.(map[string]any)
	if !ok {
		return errors.New("schematest: schema: not a JSON object")
	}
	v, err := decode(doc)
	if err != nil {
		return fmt.Errorf("schematest: document: %w", err)
	}
	return errors.Join(check(sm, v, "")...)
}

// decode reads exactly one JSON value, numbers kept as json.Number.
func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// check applies every keyword of s to v, in a stable order.
func check(s map[string]any, v any, at string) []error {
	var errs []error
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := keyword(k, s, v, at); err != nil {
			errs = append(errs, err...)
		}
	}
	return errs
}

func keyword(k string, s map[string]any, v any, at string) []error {
	where := at
	if where == "" {
		where = "/"
	}
	switch k {
	case "$schema", "$id", "title", "description":
		return nil
	case "type":
		name, ok := s[k].(string)
		if !ok {
			return []error{fmt.Errorf("schema at %s: type must be a string", where)}
		}
		if !hasType(name, v) {
			return []error{fmt.Errorf("%s: %s is not of type %s", where, show(v), name)}
		}
	case "enum":
		list, ok := s[k].([]any)
		if !ok {
			return []error{fmt.Errorf("schema at %s: enum must be an array", where)}
		}
		if !slices.ContainsFunc(list, func(e any) bool { return equal(e, v) }) {
			return []error{fmt.Errorf("%s: %s is not one of %s", where, show(v), show(list))}
		}
	case "minimum":
		return minimum(s[k], v, where)
	case "format":
		return format(s[k], v, where)
	case "required":
		return required(s[k], v, where)
	case "properties":
		return properties(s[k], v, at)
	case "additionalProperties":
		return additional(s, v, at)
	default:
		return []error{fmt.Errorf("schema at %s: keyword %q is not supported by schematest", where, k)}
	}
	return nil
}

func hasType(name string, v any) bool {
	switch name {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		return err == nil && f == math.Trunc(f)
	}
	return false
}

func minimum(limit, v any, where string) []error {
	m, ok := limit.(json.Number)
	if !ok {
		return []error{fmt.Errorf("schema at %s: minimum must be a number", where)}
	}
	n, ok := v.(json.Number)
	if !ok {
		return nil // applies to numbers only
	}
	lo, err1 := strconv.ParseFloat(string(m), 64)
	f, err2 := strconv.ParseFloat(string(n), 64)
	if err1 != nil || err2 != nil || f < lo {
		return []error{fmt.Errorf("%s: %s is below the minimum %s", where, n, m)}
	}
	return nil
}

func format(name, v any, where string) []error {
	if name != "date-time" {
		return []error{fmt.Errorf("schema at %s: format %s is not supported by schematest (date-time is)", where, show(name))}
	}
	s, ok := v.(string)
	if !ok {
		return nil // applies to strings only
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return []error{fmt.Errorf("%s: %q is not an RFC 3339 date-time", where, s)}
	}
	return nil
}

func required(names, v any, where string) []error {
	list, ok := names.([]any)
	if !ok {
		return []error{fmt.Errorf("schema at %s: required must be an array", where)}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var errs []error
	for _, n := range list {
		name, _ := n.(string)
		if _, ok := obj[name]; !ok {
			errs = append(errs, fmt.Errorf("%s: required field %q is missing", where, name))
		}
	}
	return errs
}

func properties(props, v any, at string) []error {
	pm, ok := props.(map[string]any)
	if !ok {
		return []error{fmt.Errorf("schema at %s/: properties must be an object", at)}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var errs []error
	for name, sub := range obj {
		ps, ok := pm[name].(map[string]any)
		if !ok {
			continue // additionalProperties decides
		}
		errs = append(errs, check(ps, sub, at+"/"+name)...)
	}
	slices.SortFunc(errs, func(a, b error) int { return cmp.Compare(a.Error(), b.Error()) })
	return errs
}

func additional(s map[string]any, v any, at string) []error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	pm, _ := s["properties"].(map[string]any)
	var errs []error
	for name, sub := range obj {
		if _, ok := pm[name]; ok {
			continue
		}
		switch a := s["additionalProperties"].(type) {
		case bool:
			if !a {
				errs = append(errs, fmt.Errorf("%s/%s: field is not in the schema", at, name))
			}
		case map[string]any:
			errs = append(errs, check(a, sub, at+"/"+name)...)
		default:
			return []error{fmt.Errorf("schema at %s/: additionalProperties must be a boolean or a schema", at)}
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return cmp.Compare(a.Error(), b.Error()) })
	return errs
}

// equal compares two decoded JSON values of the kinds enum lists hold.
func equal(a, b any) bool {
	switch a := a.(type) {
	case string, bool, nil, json.Number:
		return a == b
	}
	return false
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
