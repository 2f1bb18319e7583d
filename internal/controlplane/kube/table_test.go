package kube

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshlite/meshlite/internal/controlplane/source"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
)

func routeTable(ns, name string, gen int64, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Group + "/" + Version, "kind": Kind,
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     spec,
	}}
	u.SetGeneration(gen)
	u.SetUID(types.UID("uid-" + ns + "-" + name))
	return u
}

func validSpec(target string) map[string]any {
	return map[string]any{
		"routes": []any{map[string]any{
			"name": "rng", "source": "http://localhost/api", "target": target, "timeout": "5s",
			"retry": map[string]any{"attempts": int64(3), "perTryTimeout": "1s", "retryOn": []any{"connect-failure", "503"}},
		}},
		"egress": []any{map[string]any{"name": "apis", "host": "*.googleapis.com", "ports": []any{int64(443), "8000-8100"}}},
	}
}

func TestLoadValid(t *testing.T) {
	l := load(routeTable("shop", "web", 1, validSpec("http://numbers-api/rng")), source.EncodeProto, time.Unix(1, 0))
	if l.table == nil || len(l.problems) > 0 {
		t.Fatalf("load: problems %q", l.problems)
	}
	if l.table.Name != "shop/web" || l.table.File != "RouteTable shop/web" || l.table.Version == "" {
		t.Errorf("table = %+v, want name shop/web, a version", l.table)
	}
	// the same spec in another namespace is the same content: same version
	other := load(routeTable("blog", "web", 7, validSpec("http://numbers-api/rng")), source.EncodeProto, time.Unix(1, 0))
	if other.table.Version != l.table.Version || other.table.Name != "blog/web" {
		t.Errorf("blog/web = %+v, want version %s", other.table, l.table.Version)
	}
}

// TestLoadInvalid: the problems are those of the file format, with field
// paths, as controlplane validate prints them.
func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name string
		obj  *unstructured.Unstructured
		want []string
	}{
		{"bad target", routeTable("shop", "web", 1, validSpec("ftp://numbers-api/rng")),
			[]string{`spec.routes[0].target: scheme "ftp" not supported (use http or https)`}},
		{"name not a label", routeTable("shop", "web.v2", 1, validSpec("http://a/")),
			[]string{`metadata.name: "web.v2" is not a DNS-1123 label`}},
		{"no spec", routeTable("shop", "web", 1, nil), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := load(tc.obj, source.EncodeProto, time.Now())
			if len(tc.want) == 0 {
				if l.table == nil {
					t.Fatalf("problems %q, want none (an empty table denies everything)", l.problems)
				}
				return
			}
			if l.table != nil || len(l.problems) != len(tc.want) {
				t.Fatalf("problems %q, want %q", l.problems, tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(l.problems[i], w) {
					t.Errorf("problem %d = %q, want it to start %q", i, l.problems[i], w)
				}
			}
		})
	}
}

func TestCountAmbassadors(t *testing.T) {
	ambs := []xds.Ambassador{
		{NodeID: "a", Subscribed: []string{"shop/web"}, LastACKedVersion: "v2"},
		{NodeID: "b", Subscribed: []string{"shop/web"}, LastACKedVersion: "v1", LastNACKVersion: "v2"},
		{NodeID: "c", Subscribed: []string{"shop/web"}, LastACKedVersion: "v1"}, // not answered yet
		{NodeID: "d", Subscribed: []string{"blog/web"}, LastACKedVersion: "v2"},
		{NodeID: "e", Subscribed: []string{"web"}, LastACKedVersion: "v2"}, // the directory source's name
	}
	got := countAmbassadors(ambs, func(name string) string {
		return map[string]string{"shop/web": "v2", "blog/web": "v9"}[name]
	})
	want := map[string]Counts{
		"shop/web": {Connected: 3, Acked: 1, Nacked: 1},
		"blog/web": {Connected: 1},
		"web":      {Connected: 1},
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %+v, want %+v", name, got[name], w)
		}
	}
}

func TestDesiredStatus(t *testing.T) {
	obj := routeTable("shop", "web", 2, validSpec("http://a/"))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	good := entry{uid: string(obj.GetUID()), generation: 2, served: &source.Table{Version: "v2"}}
	_, want, ok := desiredStatus(obj, good, Counts{Connected: 2, Acked: 2}, t0)
	if !ok {
		t.Fatal("entry of the object's generation: ok = false")
	}
	c := want.Conditions[0]
	if want.Version != "v2" || want.ObservedGeneration != 2 || want.Ambassadors.Acked != 2 ||
		c.Type != ConditionAccepted || c.Status != metav1.ConditionTrue || c.Reason != ReasonValid || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("status = %+v", want)
	}

	// written, the same state later is no change: nothing to write
	st, _ := toMap(want)
	obj.Object["status"] = st
	if have, again, _ := desiredStatus(obj, good, Counts{Connected: 2, Acked: 2}, t0.Add(time.Hour)); !reflect.DeepEqual(have, again) {
		t.Errorf("unchanged state differs from what was written:\nhave %+v\nwant %+v", have, again)
	}

	// the next generation is refused: False with the problems, the old
	// version still served, a new transition time
	obj.SetGeneration(3)
	bad := entry{uid: string(obj.GetUID()), generation: 3, served: good.served, problems: []string{"spec.routes[0].target: bad"}}
	t1 := t0.Add(time.Minute)
	have, want, ok := desiredStatus(obj, bad, Counts{Connected: 2, Acked: 2}, t1)
	if !ok || have.Version != "v2" {
		t.Fatalf("ok %v, have %+v", ok, have)
	}
	c = want.Conditions[0]
	if c.Status != metav1.ConditionFalse || c.Reason != ReasonInvalid || c.ObservedGeneration != 3 ||
		c.Message != "spec.routes[0].target: bad\n(the last good version, v2, is still served)" || !c.LastTransitionTime.Time.Equal(t1) {
		t.Errorf("condition = %+v", c)
	}

	// an entry that lags the object is not written
	if _, _, ok := desiredStatus(obj, good, Counts{}, t1); ok {
		t.Error("entry of generation 2 for an object of generation 3: ok = true")
	}
}
