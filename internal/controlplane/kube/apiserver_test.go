package kube_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/meshlite/meshlite/internal/controlplane/kube"
	"github.com/meshlite/meshlite/internal/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// root is the repository, for the manifests and examples.
const root = "../../.."

const crdFile = root + "/deploy/manifests/crds/routetables.meshlite.io.yaml"

var crdOnce sync.Mutex

// cluster is the shared cluster with the RouteTable CRD installed and
// established.
func cluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	c := kubetest.Shared(t)
	crdOnce.Lock()
	defer crdOnce.Unlock()
	if _, stderr, err := c.Kubectl(t, "apply", "-f", crdFile); err != nil {
		t.Fatalf("install the CRD: %v\n%s", err, stderr)
	}
	if _, stderr, err := c.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/routetables.meshlite.io"); err != nil {
		t.Fatalf("CRD not established: %v\n%s", err, stderr)
	}
	return c
}

func dyn(t *testing.T, c *kubetest.Cluster) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// asResource turns a RouteTable file into the resource kubectl applies:
// only the apiVersion changes.
func asResource(doc string) string {
	return strings.Replace(doc, "apiVersion: meshlite/v1\n", "apiVersion: "+kube.Group+"/"+kube.Version+"\n", 1)
}

// readmeTables are the README's RouteTable examples.
func readmeTables(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, m := range regexp.MustCompile("(?s)```ya?ml\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
		if strings.Contains(m[1], "kind: RouteTable") && strings.Contains(m[1], "apiVersion: meshlite/v1") {
			out["README.md#yaml"+itoa(i)] = m[1]
		}
	}
	if len(out) < 2 {
		t.Fatalf("found %d RouteTable examples in README.md, want at least 2", len(out))
	}
	return out
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

// getRT reads RouteTable ns/name.
func getRT(t *testing.T, d dynamic.Interface, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := d.Resource(kube.GVR).Namespace(ns).Get(ctxT(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get RouteTable %s/%s: %v", ns, name, err)
	}
	return u
}

// statusOf reads the written status of ns/name.
func statusOf(t *testing.T, d dynamic.Interface, ns, name string) (kube.Status, *metav1.Condition) {
	t.Helper()
	var st kube.Status
	u := getRT(t, d, ns, name)
	if m, ok, _ := unstructured.NestedMap(u.Object, "status"); ok {
		if err := fromMap(m, &st); err != nil {
			t.Fatal(err)
		}
	}
	for i := range st.Conditions {
		if st.Conditions[i].Type == kube.ConditionAccepted {
			return st, &st.Conditions[i]
		}
	}
	return st, nil
}

// eventually polls cond against a deadline.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
