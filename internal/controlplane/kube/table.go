package kube

import (
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
	"github.com/meshlite/meshlite/internal/controlplane/source"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// The RouteTable resource.
const (
	Group   = "meshlite.io"
	Version = "v1alpha1"
	Kind    = "RouteTable"
)

// GVR is the RouteTable resource's group, version and plural name.
var GVR = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "routetables"}

// loaded is what one generation of a RouteTable produced.
type loaded struct {
	// table is nil when the spec is invalid.
	table *source.Table
	// problems are the validation messages, one per problem, as
	// `controlplane validate` prints them (without a file name).
	problems []string
}

// load validates obj's spec with the file format's own code: the spec is
// put in a meshlite/v1 document named after the resource, parsed strictly,
// compiled and encoded. Deprecated fields cannot arrive here: the CRD's
// schema has none.
func load(obj *unstructured.Unstructured, encode source.Encoder, now time.Time) loaded {
	spec, _, err := unstructured.NestedFieldNoCopy(obj.Object, "spec")
	if err != nil || spec == nil {
		spec = map[string]any{}
	}
	doc, err := json.Marshal(map[string]any{
		"apiVersion": routes.APIVersion,
		"kind":       routes.Kind,
		"metadata":   map[string]any{"name": obj.GetName()},
		"spec":       spec,
	})
	if err != nil {
		return loaded{problems: []string{fmt.Sprintf("spec: cannot encode: %v", err)}}
	}
	rt, err := routes.Parse(doc) // JSON is YAML: one parser for files and resources
	if err == nil {
		_, err = routes.Compile(rt, policy.Options{})
	}
	if err != nil {
		var out []string
		for _, p := range routes.Problems(err) {
			out = append(out, p.Error())
		}
		return loaded{problems: out}
	}
	msg, err := encode(rt)
	if err != nil {
		return loaded{problems: []string{"encode: " + err.Error()}}
	}
	version, err := source.Version(msg)
	if err != nil {
		return loaded{problems: []string{err.Error()}}
	}
	name := meshlitev1.ResourceName(obj.GetNamespace(), obj.GetName())
	return loaded{table: &source.Table{Name: name, File: reference(obj), Version: version, Resource: msg, Loaded: now}}
}

// reference names a resource in logs and on /status: "RouteTable shop/web".
func reference(obj *unstructured.Unstructured) string {
	return Kind + " " + obj.GetNamespace() + "/" + obj.GetName()
}
