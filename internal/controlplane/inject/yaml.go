package inject

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// templateAt is where each workload kind keeps its pod template, by API
// group and kind; "" is the object itself (a Pod).
var templateAt = map[string]string{
	"/Pod":             "",
	"apps/Deployment":  "/spec/template",
	"apps/StatefulSet": "/spec/template",
	"apps/DaemonSet":   "/spec/template",
	"apps/ReplicaSet":  "/spec/template",
	"batch/Job":        "/spec/template",
	"batch/CronJob":    "/spec/jobTemplate/spec/template",
}

// Documents injects every pod template that asks in a stream of YAML (or
// JSON) documents separated by "---" lines. A document that does not change
// is copied byte for byte, its separator line included; one that changes is
// written back as YAML (keys sorted, its leading comment lines kept, other
// comments lost). Every document's problem is reported, naming its 0-based
// index and object; on any problem nothing is returned.
func (in *Injector) Documents(data []byte) ([]byte, error) {
	var (
		out  bytes.Buffer
		errs []error
	)
	for i, d := range split(data) {
		body, err := in.document(d)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		out.Write(body)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out.Bytes(), nil
}

// chunk is one document's bytes: its separator line (nil for a first
// document without one) and the lines up to the next separator.
type chunk struct{ sep, body []byte }

func split(data []byte) []chunk {
	var (
		out []chunk
		cur chunk
	)
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if isSeparator(line) {
			if cur.sep != nil || len(cur.body) > 0 {
				out = append(out, cur)
			}
			cur = chunk{sep: line}
			continue
		}
		cur.body = append(cur.body, line...)
	}
	if cur.sep != nil || len(cur.body) > 0 {
		out = append(out, cur)
	}
	return out
}

// isSeparator: "---" at the start of a line, alone or before a space.
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	return ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r' || rest[0] == '\n')
}

// document returns c's bytes, injected if it asks.
func (in *Injector) document(c chunk) ([]byte, error) {
	original := append(append([]byte(nil), c.sep...), c.body...)
	js, err := yaml.YAMLToJSON(original)
	if err != nil {
		return nil, fmt.Errorf("inject: not YAML: %w", err)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // numbers are written back as they were read
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("inject: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return original, nil // empty, a comment, or not an object: nothing to inject
	}
	ops, err := in.object(obj)
	if err != nil || len(ops) == 0 {
		return original, err
	}
	if doc, err = Apply(doc, ops); err != nil {
		return nil, err
	}
	js, err = json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("inject: %w", err)
	}
	body, err := yaml.JSONToYAML(js)
	if err != nil {
		return nil, fmt.Errorf("inject: %w", err)
	}
	sep := c.sep
	if sep != nil && len(bytes.TrimSpace(sep)) > 3 && !bytes.HasPrefix(bytes.TrimSpace(sep[3:]), []byte("#")) {
		sep = []byte("---\n") // the separator line held content; it is in body now
	}
	return slices3(sep, leadingComments(c.body), body), nil
}

// object returns the operations for obj's pod template, if its kind has
// one.
func (in *Injector) object(obj map[string]any) ([]Op, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	at, ok := templateAt[group+"/"+kind]
	if !ok {
		return nil, nil
	}
	name := objectName(kind, obj)
	node, ok := lookup(obj, at)
	if !ok {
		return nil, nil
	}
	raw, err := json.Marshal(node)
	if err != nil {
		return nil, fmt.Errorf("inject: %s: %w", name, err)
	}
	var tmpl struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     corev1.PodSpec    `json:"spec"`
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("inject: %s: pod template: %w", name, err)
	}
	return in.Template(name, at, tmpl.Metadata, tmpl.Spec, TemplateAsks)
}

// objectName is "Kind namespace/name", or "Kind name" without a namespace.
func objectName(kind string, obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if ns, _ := meta["namespace"].(string); ns != "" {
		name = ns + "/" + name
	}
	return kind + " " + name
}

// lookup follows a JSON pointer of object keys.
func lookup(obj map[string]any, pointer string) (any, bool) {
	var node any = obj
	if pointer == "" {
		return node, true
	}
	for _, seg := range strings.Split(pointer[1:], "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, false
		}
		if node, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return node, true
}

// leadingComments are the comment and blank lines before a document's
// first content line.
func leadingComments(body []byte) []byte {
	n := 0
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			break
		}
		n += len(line)
	}
	return body[:n]
}

func slices3(a, b, c []byte) []byte {
	return append(append(append([]byte(nil), a...), b...), c...)
}
