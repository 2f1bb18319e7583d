package kubetest_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/kubetest"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSharedCluster(t *testing.T) {
	c := kubetest.Shared(t)
	ns := c.Namespace(t, "smoke")

	t.Run("server version is the pinned release", func(t *testing.T) {
		v, err := c.Client.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v.GitVersion != kubetest.KubeVersion {
			t.Errorf("server version %s, want %s (rebuild with scripts/kube-deps.sh)", v.GitVersion, kubetest.KubeVersion)
		}
	})

	t.Run("configmap round trip", func(t *testing.T) {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "greeting"},
			Data:       map[string]string{"hello": "world"},
		}
		if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx(t), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx(t), "greeting", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["hello"] != "world" {
			t.Errorf("data %v, want hello=world", got.Data)
		}
	})

	t.Run("pod is admitted without a controller-manager", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "app"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app"}}},
		}
		got, err := c.Client.CoreV1().Pods(ns).Create(ctx(t), pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The ServiceAccount admission plugin ran: it mounts the token.
		if got.Spec.ServiceAccountName != "default" || len(got.Spec.Volumes) == 0 {
			t.Errorf("pod not mutated by ServiceAccount admission: serviceAccountName %q, volumes %v", got.Spec.ServiceAccountName, got.Spec.Volumes)
		}
	})

	t.Run("token review checks the audience", func(t *testing.T) {
		tests := []struct {
			name     string
			audience string
			want     bool
		}{
			{"token for meshlite", "meshlite", true},
			{"token for another audience", "someone-else", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				token := c.ServiceAccountToken(t, ns, "ambassador", tt.audience)
				review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{
					Token: token, Audiences: []string{"meshlite"},
				}}
				got, err := c.Client.AuthenticationV1().TokenReviews().Create(ctx(t), review, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got.Status.Authenticated != tt.want {
					t.Fatalf("authenticated %v, want %v (error %q)", got.Status.Authenticated, tt.want, got.Status.Error)
				}
				if want := "system:serviceaccount:" + ns + ":ambassador"; tt.want && got.Status.User.Username != want {
					t.Errorf("user %q, want %q", got.Status.User.Username, want)
				}
			})
		}
	})

	t.Run("rbac denies a service account", func(t *testing.T) {
		cfg := rest.AnonymousClientConfig(c.Config())
		cfg.BearerToken = c.ServiceAccountToken(t, ns, "nobody", kubetest.Issuer)
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.CoreV1().Secrets(ns).List(ctx(t), metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("list secrets as an unbound ServiceAccount: %v, want Forbidden", err)
		}
	})

	t.Run("kubectl", func(t *testing.T) {
		out, stderr, err := c.Kubectl(t, "version")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		for _, want := range []string{"Client Version: " + kubetest.KubeVersion, "Server Version: " + kubetest.KubeVersion} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl version printed %q, want %q in it", out, want)
			}
		}
		out, stderr, err = c.Kubectl(t, "get", "namespaces", "-o", "name")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if !strings.Contains(out, "namespace/"+ns+"\n") {
			t.Errorf("kubectl get namespaces printed %q, want namespace/%s in it", out, ns)
		}
		if _, _, err := c.Kubectl(t, "get", "nosuchkind"); err == nil {
			t.Error("kubectl get nosuchkind succeeded, want an error")
		}
	})
}

// TestStartStops checks that a cluster of a test's own is gone, processes
// and files, when that test ends.
func TestStartStops(t *testing.T) {
	var c *kubetest.Cluster
	t.Run("own cluster", func(t *testing.T) {
		c = kubetest.Start(t)
		if _, err := c.Client.CoreV1().Namespaces().Get(ctx(t), "default", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	if t.Failed() || c == nil {
		return
	}
	for _, pid := range c.PIDs() {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d still running after the test ended", pid)
		}
	}
	if _, err := os.Stat(c.Kubeconfig); !os.IsNotExist(err) {
		t.Errorf("kubeconfig %s still there after the test ended (%v)", c.Kubeconfig, err)
	}
}
