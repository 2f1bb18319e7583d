// Package kubetest runs a real Kubernetes control plane for tests: etcd and
// kube-apiserver as processes on the loopback, with generated certificates,
// a ServiceAccount token issuer, RBAC, CRDs and admission webhooks, but no
// controller-manager, scheduler or kubelet (Pods are stored, never run).
//
// The binaries come from scripts/kube-deps.sh (built from the pinned
// k8s.io/kubernetes module and cached), or from the directory named by
// MESHLITE_KUBE_BIN. Without them the tests skip with a hint, and under
// CI=true they fail.
//
// A cluster takes seconds to start, so a test binary normally shares one:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		c := kubetest.Shared(t)
//		ns := c.Namespace(t, "something") // "something-x7k2p"
//		...
//	}
//
// Tests that share a cluster work in namespaces of their own (Namespace
// makes unique names) and narrow what they make cluster-wide (a webhook
// configuration selects its test's namespace). Start gives a test a
// cluster of its own, stopped when the test ends. A webhook server's
// certificate can come from internal/tlstest (TestWebhookByURL shows how).
package kubetest
