package kube_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/meshlite/meshlite/internal/ambassador/xdsclient"
	"github.com/meshlite/meshlite/internal/controlplane"
	"github.com/meshlite/meshlite/internal/controlplane/kube"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/kubetest"
	"github.com/meshlite/meshlite/internal/testnet"
	"github.com/meshlite/meshlite/pkg/routes"
)

const wait = 30 * time.Second

// plane is a control plane on the kubernetes source, serving on loopback
// until stopped or the test ends.
type plane struct {
	cp   *controlplane.ControlPlane
	reg  *prometheus.Registry
	xds  string
	stop context.CancelFunc
	done chan error
}

func startPlane(t *testing.T, c *kubetest.Cluster, leaseNS, identity string) *plane {
	t.Helper()
	return startPlaneXDS(t, c, leaseNS, identity, xds.Options{})
}

// startPlaneXDS is startPlane with the xDS server's options (TLS,
// identity).
func startPlaneXDS(t *testing.T, c *kubetest.Cluster, leaseNS, identity string, xo xds.Options) *plane {
	t.Helper()
	reg := prometheus.NewRegistry()
	cp, err := controlplane.New(controlplane.Options{
		Registry: reg, XDS: xo,
		Kubernetes: &controlplane.KubernetesOptions{
			Config: c.Config(), LeaseNamespace: leaseNS, LeaseName: "meshlite-controlplane", Identity: identity,
			StatusInterval: 100 * time.Millisecond,
			LeaseDuration:  3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	xdsLis, adminLis := testnet.Listen(t), testnet.Listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := &plane{cp: cp, reg: reg, xds: xdsLis.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { p.done <- cp.Serve(ctx, xdsLis, adminLis) }()
	t.Cleanup(p.shutdown)
	eventually(t, wait, "the control plane to list RouteTables", cp.Ready)
	return p
}

func (p *plane) shutdown() {
	p.stop()
	<-p.done
	p.done <- nil // a second shutdown returns at once
}

// metric sums every series of a metric of the plane's registry.
func (p *plane) metric(t *testing.T, name string) float64 {
	t.Helper()
	families, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// applied is one table an ambassador applied.
type applied struct {
	version string
	table   *routes.RouteTable
}

// ambassador is a real xDS client, as the ambassador runs it, recording
// what it applies.
type ambassador struct {
	c    *xdsclient.Client
	mu   sync.Mutex
	seen []applied
}

func startAmbassador(t *testing.T, addr, namespace, workload string) *ambassador {
	t.Helper()
	return startAmbassadorSec(t, addr, namespace, workload, xdsclient.Security{})
}

// startAmbassadorSec is startAmbassador with TLS and credentials.
func startAmbassadorSec(t *testing.T, addr, namespace, workload string, sec xdsclient.Security) *ambassador {
	t.Helper()
	a := &ambassador{}
	var err error
	a.c, err = xdsclient.New(xdsclient.Options{
		Addr: addr, NodeID: namespace + "-" + workload + "-pod", Workload: workload, Namespace: namespace, Security: sec,
		BackoffBase: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		Apply: func(version string, rt *routes.RouteTable) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.seen = append(a.seen, applied{version, rt})
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("xdsclient: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

func (a *ambassador) all() []applied {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]applied(nil), a.seen...)
}

func (a *ambassador) last() (applied, bool) {
	all := a.all()
	if len(all) == 0 {
		return applied{}, false
	}
	return all[len(all)-1], true
}

func (a *ambassador) target() string {
	l, ok := a.last()
	if !ok || len(l.table.Spec.Routes) == 0 {
		return ""
	}
	return l.table.Spec.Routes[0].Target
}

func rtObject(ns, name, target string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.Group + "/" + kube.Version, "kind": kube.Kind,
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec": map[string]any{"routes": []any{map[string]any{
			"name": "rng", "source": "http://localhost/api", "target": target,
			"retry": map[string]any{"attempts": int64(3), "retryOn": []any{"connect-failure"}},
		}}},
	}}
}

func setTarget(t *testing.T, d dynamic.Interface, ns, name, target string) {
	t.Helper()
	u := getRT(t, d, ns, name)
	routesList, _, _ := unstructured.NestedSlice(u.Object, "spec", "routes")
	routesList[0].(map[string]any)["target"] = target
	if err := unstructured.SetNestedSlice(u.Object, routesList, "spec", "routes"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Resource(kube.GVR).Namespace(ns).Update(ctxT(t), u, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update %s/%s: %v", ns, name, err)
	}
}

// waitStatus waits until the status describes the object's generation and
// ok holds.
func waitStatus(t *testing.T, d dynamic.Interface, ns, name string, what string, ok func(kube.Status, *metav1.Condition, int64) bool) kube.Status {
	t.Helper()
	var st kube.Status
	eventually(t, wait, what, func() bool {
		gen := getRT(t, d, ns, name).GetGeneration()
		var cond *metav1.Condition
		st, cond = statusOf(t, d, ns, name)
		return cond != nil && st.ObservedGeneration == gen && ok(st, cond, gen)
	})
	return st
}

// TestRouteTableLifecycle: creating, editing, breaking and deleting a
// RouteTable reaches a connected ambassador of its namespace, and its status
// says so; an ambassador of another namespace with the same workload name
// never gets it.
func TestRouteTableLifecycle(t *testing.T) {
	c := cluster(t)
	d := dyn(t, c)
	nsA, nsB := c.Namespace(t, "shop"), c.Namespace(t, "blog")
	p := startPlane(t, c, c.Namespace(t, "lifecycle-mesh"), "cp-0")
	a := startAmbassador(t, p.xds, nsA, "web")
	b := startAmbassador(t, p.xds, nsB, "web")

	// create: served as shop/web, applied, Accepted=True, acked by the one
	// ambassador of shop
	if _, err := d.Resource(kube.GVR).Namespace(nsA).Create(ctxT(t), rtObject(nsA, "web", "http://numbers-api/v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "shop's ambassador to apply v1", func() bool { return a.target() == "http://numbers-api/v1" })
	v1, _ := a.last()
	st := waitStatus(t, d, nsA, "web", "status Accepted=True, acked 1", func(st kube.Status, c *metav1.Condition, _ int64) bool {
		return c.Status == metav1.ConditionTrue && st.Version == v1.version && st.Ambassadors == kube.Counts{Connected: 1, Acked: 1}
	})
	if c := st.Conditions[0]; c.Reason != kube.ReasonValid || !strings.Contains(c.Message, v1.version) {
		t.Errorf("condition = %+v", c)
	}

	// edit: the new version reaches it and the status follows
	setTarget(t, d, nsA, "web", "http://numbers-api/v2")
	eventually(t, wait, "shop's ambassador to apply v2", func() bool { return a.target() == "http://numbers-api/v2" })
	v2, _ := a.last()
	waitStatus(t, d, nsA, "web", "status version v2, acked 1", func(st kube.Status, c *metav1.Condition, _ int64) bool {
		return c.Status == metav1.ConditionTrue && st.Version == v2.version && st.Ambassadors.Acked == 1
	})

	// an invalid edit (the schema cannot see an ftp target): Accepted=False
	// with the validation message; v2 keeps serving and nothing new is pushed
	setTarget(t, d, nsA, "web", "ftp://numbers-api/v3")
	st = waitStatus(t, d, nsA, "web", "status Accepted=False", func(st kube.Status, c *metav1.Condition, _ int64) bool {
		return c.Status == metav1.ConditionFalse
	})
	cond := st.Conditions[0]
	if cond.Reason != kube.ReasonInvalid || st.Version != v2.version || st.Ambassadors.Acked != 1 ||
		!strings.Contains(cond.Message, `spec.routes[0].target: scheme "ftp" not supported (use http or https)`) ||
		!strings.Contains(cond.Message, "the last good version, "+v2.version+", is still served") {
		t.Errorf("status after the invalid edit = %+v", st)
	}

	// namespace B: its own table with the same name; the barrier shows that
	// nothing of shop's reached blog's ambassador before it
	if _, err := d.Resource(kube.GVR).Namespace(nsB).Create(ctxT(t), rtObject(nsB, "web", "http://blog-api/"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "blog's ambassador to apply its table", func() bool { return b.target() == "http://blog-api/" })
	for _, got := range b.all() {
		if strings.Contains(got.table.Spec.Routes[0].Target, "numbers-api") {
			t.Errorf("blog's ambassador applied shop's table %+v", got.table)
		}
	}
	if n := len(a.all()); n != 2 || a.target() != "http://numbers-api/v2" {
		t.Errorf("shop's ambassador applied %d tables, now %q; want 2, still v2", n, a.target())
	}
	waitStatus(t, d, nsB, "web", "blog status acked 1", func(st kube.Status, c *metav1.Condition, _ int64) bool {
		return c.Status == metav1.ConditionTrue && st.Ambassadors == kube.Counts{Connected: 1, Acked: 1}
	})

	// fix, then delete: the table leaves the control plane
	setTarget(t, d, nsA, "web", "http://numbers-api/v4")
	eventually(t, wait, "shop's ambassador to apply v4", func() bool { return a.target() == "http://numbers-api/v4" })
	if err := d.Resource(kube.GVR).Namespace(nsA).Delete(ctxT(t), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "shop/web to leave the served tables", func() bool {
		for _, ts := range p.cp.Status().Tables {
			if ts.Name == nsA+"/web" {
				return false
			}
		}
		return true
	})
}

// deniedTotal is meshlite_controlplane_xds_denied_total over every reason.
func (p *plane) deniedTotal(t *testing.T) float64 {
	t.Helper()
	return p.metric(t, "meshlite_controlplane_xds_denied_total")
}
