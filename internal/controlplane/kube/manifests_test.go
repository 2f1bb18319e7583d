package kube_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestManifestsDryRun: with the CRD installed, the API server accepts every
// object of deploy/manifests and of the kubernetes-source variant
// (deploy/kubernetes: its RBAC, the patched Deployment).
func TestManifestsDryRun(t *testing.T) {
	c := cluster(t)
	// a server-side dry run creates nothing, so the namespaces the objects
	// go in must exist
	for _, ns := range []string{"meshlite-system", "meshlite-example", "meshlite-example-transparent"} {
		_, err := c.Client.CoreV1().Namespaces().Create(ctxT(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"deploy/manifests", "deploy/kubernetes"} {
		t.Run(dir, func(t *testing.T) {
			out, stderr, err := c.Kubectl(t, "apply", "--dry-run=server", "-k", root+"/"+dir)
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server -k %s: %v\n%s\n%s", dir, err, stderr, out)
			}
			for _, want := range []string{"customresourcedefinition.apiextensions.k8s.io/routetables.meshlite.io", "deployment.apps/meshlite-controlplane"} {
				if !strings.Contains(out, want) {
					t.Errorf("output does not mention %s:\n%s", want, out)
				}
			}
			if dir == "deploy/kubernetes" && !strings.Contains(out, "clusterrole.rbac.authorization.k8s.io/meshlite-controlplane") {
				t.Errorf("no ClusterRole in:\n%s", out)
			}
		})
	}
}
