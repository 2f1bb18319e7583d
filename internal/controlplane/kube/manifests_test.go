package kube_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshlite/meshlite/internal/kubetest"
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

// TestKubernetesManifestsSetUpXDSIdentity: the control plane of
// deploy/kubernetes starts with identity (config validation requires it
// with --source kubernetes): its certificate and key come from the
// meshlite-xds-tls Secret mounted as a whole directory (a subPath mount
// would miss rotations), and its ServiceAccount may create TokenReviews.
func TestKubernetesManifestsSetUpXDSIdentity(t *testing.T) {
	c := kubetest.Shared(t)
	out, stderr, err := c.Kubectl(t, "kustomize", root+"/deploy/kubernetes")
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, stderr)
	}
	var dep *appsv1.Deployment
	var roles []rbacv1.ClusterRole
	var bindings []rbacv1.ClusterRoleBinding
	for doc := range strings.SplitSeq(out, "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "Deployment":
			dep = &appsv1.Deployment{}
			mustUnmarshal(t, doc, dep)
		case "ClusterRole":
			roles = append(roles, rbacv1.ClusterRole{})
			mustUnmarshal(t, doc, &roles[len(roles)-1])
		case "ClusterRoleBinding":
			bindings = append(bindings, rbacv1.ClusterRoleBinding{})
			mustUnmarshal(t, doc, &bindings[len(bindings)-1])
		}
	}
	if dep == nil {
		t.Fatal("no Deployment")
	}
	ctr := dep.Spec.Template.Spec.Containers[0]
	args := strings.Join(ctr.Args, " ")
	for _, want := range []string{"--source kubernetes", "--xds-cert /etc/meshlite/xds-tls/tls.crt", "--xds-key /etc/meshlite/xds-tls/tls.key"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if strings.Contains(args, "--xds-insecure") {
		t.Errorf("args %q waive identity", args)
	}
	mounted := false
	for _, m := range ctr.VolumeMounts {
		if m.MountPath != "/etc/meshlite/xds-tls" {
			continue
		}
		mounted = m.SubPath == "" && m.ReadOnly
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && (v.Secret == nil || v.Secret.SecretName != "meshlite-xds-tls") {
				mounted = false
			}
		}
	}
	if !mounted {
		t.Errorf("/etc/meshlite/xds-tls is not the meshlite-xds-tls Secret, whole and read-only: %+v %+v", ctr.VolumeMounts, dep.Spec.Template.Spec.Volumes)
	}
	if !canReviewTokens(roles, bindings, dep.Spec.Template.Spec.ServiceAccountName, dep.Namespace) {
		t.Errorf("ServiceAccount %s may not create tokenreviews", dep.Spec.Template.Spec.ServiceAccountName)
	}
}

// canReviewTokens reports whether a ClusterRole bound to ServiceAccount
// ns/sa grants create on tokenreviews (system:auth-delegator does).
func canReviewTokens(roles []rbacv1.ClusterRole, bindings []rbacv1.ClusterRoleBinding, sa, ns string) bool {
	grants := map[string]bool{"system:auth-delegator": true}
	for _, r := range roles {
		for _, rule := range r.Rules {
			if slices.Contains(rule.APIGroups, "authentication.k8s.io") && slices.Contains(rule.Resources, "tokenreviews") && slices.Contains(rule.Verbs, "create") {
				grants[r.Name] = true
			}
		}
	}
	for _, b := range bindings {
		if b.RoleRef.Kind != "ClusterRole" || !grants[b.RoleRef.Name] {
			continue
		}
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == ns {
				return true
			}
		}
	}
	return false
}

func mustUnmarshal(t *testing.T, doc string, out any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), out); err != nil {
		t.Fatal(err)
	}
}
