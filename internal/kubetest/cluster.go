package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// callWait bounds each API call a helper makes.
const callWait = 30 * time.Second

// Cluster is a running etcd and kube-apiserver. Its credentials are an
// administrator's (group system:masters).
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig file for the cluster, for
	// kubectl --kubeconfig and controlplane serve --kubeconfig.
	Kubeconfig string
	// Client is a clientset for the cluster.
	Client kubernetes.Interface

	config    *rest.Config
	kubectl   string // path of the kubectl binary
	dir       string // certificates, etcd's data, logs and the kubeconfig
	etcd      *process
	apiserver *process
}

// Start starts a cluster of the test's own and stops it when the test
// ends. It skips the test when the binaries are missing (fails it under
// CI=true).
func Start(t testing.TB) *Cluster {
	t.Helper()
	bins := requireBinaries(t)
	began := time.Now()
	c, err := start(bins)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	t.Logf("kubetest: cluster at %s ready in %s", c.config.Host, time.Since(began).Round(time.Millisecond))
	return c
}

// start runs etcd and kube-apiserver in a new temporary directory and
// waits for them; on an error nothing is left running.
func start(bins map[string]string) (*Cluster, error) {
	// A short path: etcd's socket lives here and Unix socket paths are short.
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	c := &Cluster{dir: dir, kubectl: bins[kubectlBin]}
	ready := false
	defer func() {
		if !ready {
			c.stop()
		}
	}()
	k, err := writePKI(dir)
	if err != nil {
		return nil, err
	}
	var etcdURL string
	if c.etcd, etcdURL, err = startEtcd(bins[etcdBin], dir); err != nil {
		return nil, err
	}
	var host string
	if c.apiserver, host, err = startAPIServer(bins[apiserverBin], dir, etcdURL, k); err != nil {
		return nil, err
	}
	c.config = &rest.Config{
		Host: host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   k.ca.pem,
			CertData: k.adminCertPEM,
			KeyData:  k.adminKeyPEM,
		},
		// Tests create objects in bursts; client-go's default limit of 5 a
		// second would pace them.
		QPS:   1000,
		Burst: 1000,
	}
	if c.Client, err = kubernetes.NewForConfig(c.config); err != nil {
		return nil, fmt.Errorf("kubetest: client: %w", err)
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err = writeKubeconfig(c.Kubeconfig, c.config); err != nil {
		return nil, err
	}
	// No controller-manager creates ServiceAccounts: Pods in "default"
	// need its "default" one, as in any other namespace (see Namespace).
	if err = c.ensureServiceAccount("default", "default"); err != nil {
		return nil, err
	}
	ready = true
	return c, nil
}

// stop stops kube-apiserver, then etcd, and removes the cluster's files.
func (c *Cluster) stop() {
	if c.apiserver != nil {
		c.apiserver.stop(5 * time.Second)
	}
	if c.etcd != nil {
		c.etcd.stop(5 * time.Second)
	}
	os.RemoveAll(c.dir)
}

// writePKI makes the CA, the API server's serving certificate, the admin
// client certificate and the token signing key, and writes the files
// kube-apiserver reads into dir.
func writePKI(dir string) (*pki, error) {
	ca, err := newAuthority("kubetest CA")
	if err != nil {
		return nil, err
	}
	k := &pki{
		ca:           ca,
		caFile:       filepath.Join(dir, "ca.pem"),
		servingCert:  filepath.Join(dir, "apiserver.pem"),
		servingKey:   filepath.Join(dir, "apiserver-key.pem"),
		saPublicKey:  filepath.Join(dir, "sa.pub"),
		saPrivateKey: filepath.Join(dir, "sa-key.pem"),
	}
	servingCert, servingKey, err := ca.serving("127.0.0.1", "localhost", "10.0.0.1",
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
	if err != nil {
		return nil, err
	}
	if k.adminCertPEM, k.adminKeyPEM, err = ca.client("kubetest-admin", "system:masters"); err != nil {
		return nil, err
	}
	saKey, saPub, err := keyPair()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		k.caFile: ca.pem, k.servingCert: servingCert, k.servingKey: servingKey,
		k.saPrivateKey: saKey, k.saPublicKey: saPub,
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("kubetest: %w", err)
		}
	}
	return k, nil
}

func writeKubeconfig(path string, cfg *rest.Config) error {
	const name = "kubetest"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("kubetest: kubeconfig: %w", err)
	}
	return nil
}

// Config returns a copy of the cluster's client configuration, for other
// clients (dynamic, apiextensions, informers) or to change and use.
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.config) }

// Namespace creates a namespace named prefix plus a unique suffix
// ("smoke-x7k2p"), with its "default" ServiceAccount (no controller-manager
// makes it), and returns its name. Unique names let tests share a cluster
// and run with -count above 1. The namespace is left behind; it goes with
// the cluster.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	got, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: create namespace %s-*: %v", prefix, err)
	}
	if err := c.ensureServiceAccount(got.Name, "default"); err != nil {
		t.Fatal(err)
	}
	return got.Name
}

// ensureServiceAccount creates ServiceAccount ns/name unless it exists.
func (c *Cluster) ensureServiceAccount(ns, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubetest: create ServiceAccount %s/%s: %w", ns, name, err)
	}
	return nil
}

// ServiceAccountToken returns a token for ServiceAccount ns/sa (created if
// missing; the namespace must exist) with the given audience, valid for an
// hour, issued through the TokenRequest API as the kubelet does for a
// projected token volume.
func (c *Cluster) ServiceAccountToken(t testing.TB, ns, sa, audience string) string {
	t.Helper()
	if err := c.ensureServiceAccount(ns, sa); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	defer cancel()
	hour := int64(time.Hour / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{audience},
		ExpirationSeconds: &hour,
	}}
	resp, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: token for %s/%s: %v", ns, sa, err)
	}
	if resp.Status.Token == "" {
		t.Fatal(errors.New("kubetest: TokenRequest returned no token"))
	}
	return resp.Status.Token
}

// PIDs returns the process IDs of the cluster's etcd and kube-apiserver.
func (c *Cluster) PIDs() []int {
	return []int{c.etcd.cmd.Process.Pid, c.apiserver.cmd.Process.Pid}
}
