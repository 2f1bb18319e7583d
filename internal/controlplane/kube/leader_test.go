package kube_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"

	"github.com/meshlite/meshlite/internal/controlplane/kube"
)

// TestOneReplicaWritesStatus: of two control planes on the same Lease, one
// holds it and is the only one that writes status; when it stops, it
// releases the Lease and the other takes over the writing.
func TestOneReplicaWritesStatus(t *testing.T) {
	c := cluster(t)
	d := dyn(t, c)
	ns := c.Namespace(t, "leader")
	meshNS := c.Namespace(t, "leader-mesh")
	p0 := startPlane(t, c, meshNS, "cp-0")
	eventually(t, wait, "cp-0 to hold the Lease", func() bool { return holder(t, c.Client.CoordinationV1(), meshNS) == "cp-0" })
	p1 := startPlane(t, c, meshNS, "cp-1")

	if _, err := d.Resource(kube.GVR).Namespace(ns).Create(ctxT(t), rtObject(ns, "web", "http://a/"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, d, ns, "web", "status of the first generation", func(st kube.Status, cond *metav1.Condition, _ int64) bool {
		return cond.Status == metav1.ConditionTrue
	})
	eventually(t, wait, "p1 to have the table", p1.cp.Ready)
	if w0, w1 := p0.metric(t, "meshlite_controlplane_status_writes_total"), p1.metric(t, "meshlite_controlplane_status_writes_total"); w0 == 0 || w1 != 0 {
		t.Errorf("status writes: cp-0 (leader) %v, cp-1 %v; want some and none", w0, w1)
	}
	if l0, l1 := p0.metric(t, "meshlite_controlplane_status_leader"), p1.metric(t, "meshlite_controlplane_status_leader"); l0 != 1 || l1 != 0 {
		t.Errorf("leader gauges %v, %v; want 1, 0", l0, l1)
	}

	p0.shutdown() // releases the Lease
	eventually(t, wait, "cp-1 to take the Lease", func() bool { return holder(t, c.Client.CoordinationV1(), meshNS) == "cp-1" })
	setTarget(t, d, ns, "web", "http://b/")
	waitStatus(t, d, ns, "web", "cp-1 to write the status of the edit", func(st kube.Status, cond *metav1.Condition, gen int64) bool {
		return cond.Status == metav1.ConditionTrue && gen == 2
	})
	if w1 := p1.metric(t, "meshlite_controlplane_status_writes_total"); w1 == 0 {
		t.Errorf("cp-1 wrote no status after taking the Lease")
	}
}

// holder is the Lease's holder identity, "" when none.
func holder(t *testing.T, c coordinationclient.CoordinationV1Interface, ns string) string {
	t.Helper()
	l, err := c.Leases(ns).Get(ctxT(t), "meshlite-controlplane", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}
