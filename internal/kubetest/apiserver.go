package kubetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// Issuer is the API server's --service-account-issuer, the iss claim of
	// the ServiceAccount tokens it signs.
	Issuer = "https://kubernetes.default.svc.cluster.local"

	// readyWait bounds the API server's start, until /readyz answers ok.
	readyWait = 90 * time.Second

	// portTries is how often a start is retried when the port picked for
	// the API server was taken before it could bind it.
	portTries = 5
)

// Audiences are the API server's --api-audiences: a token for any of them
// is valid to a TokenReview that names no audience. meshlite's ambassadors
// present tokens for "meshlite".
var Audiences = []string{Issuer, "meshlite"}

// pki is what the API server is started with.
type pki struct {
	ca                        *authority // signs the serving and client certificates
	servingCert, servingKey   string     // files
	caFile                    string     // file: ca.pem, also the client CA
	saPublicKey, saPrivateKey string     // files: the token signing key pair
	adminCertPEM, adminKeyPEM []byte     // a system:masters client certificate
}

// apiserverFlags are the flags that make kube-apiserver a test server.
func apiserverFlags(port int, etcdURL string, k *pki) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + k.servingCert,
		"--tls-private-key-file=" + k.servingKey,
		"--client-ca-file=" + k.caFile, // the admin credential is a client certificate
		"--service-account-issuer=" + Issuer,
		"--service-account-key-file=" + k.saPublicKey,
		"--service-account-signing-key-file=" + k.saPrivateKey,
		"--api-audiences=" + strings.Join(Audiences, ","),
		// RBAC alone: the Node authorizer serves kubelets, and there are none.
		"--authorization-mode=RBAC",
		// Pods may ask for what injected pods ask for (the capture's init
		// container); nothing runs them.
		"--allow-privileged=true",
		"--service-cluster-ip-range=10.0.0.0/24",
		// No "kubernetes" Endpoints to keep: nothing in the cluster calls it.
		"--endpoint-reconciler-type=none",
		// Faster to start and no request queuing: tests are the only clients.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}
}

// startAPIServer starts kube-apiserver and waits until it is ready. The
// port is the kernel's pick for a listener closed just before; if another
// process takes it first the start is tried again on another.
func startAPIServer(bin, dir, etcdURL string, k *pki) (*process, string, error) {
	var err error
	for try := 1; try <= portTries; try++ {
		var port int
		if port, err = freePort(); err != nil {
			return nil, "", err
		}
		host := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		var p *process
		p, err = startProcess("kube-apiserver", filepath.Join(dir, "kube-apiserver.log"), bin, apiserverFlags(port, etcdURL, k)...)
		if err != nil {
			return nil, "", err
		}
		if err = waitReady(p, host, k); err == nil {
			return p, host, nil
		}
		p.stop(time.Second)
		if !p.logContains("address already in use") {
			break
		}
	}
	return nil, "", err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("kubetest: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls host's /readyz as the admin until it answers 200, p
// exits or readyWait passes.
func waitReady(p *process, host string, k *pki) error {
	cert, err := tls.X509KeyPair(k.adminCertPEM, k.adminKeyPEM)
	if err != nil {
		return fmt.Errorf("kubetest: admin certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(k.ca.cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	last := "no answer yet"
	for deadline := time.Now().Add(readyWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if p.exited() {
			return fmt.Errorf("kubetest: kube-apiserver exited before it was ready (%v)\n%s", p.err, p.tail(40))
		}
		status, body, err := get(client, host+"/readyz")
		switch {
		case err != nil:
			last = err.Error()
		case status == http.StatusOK:
			return nil
		default:
			last = fmt.Sprintf("%d %s", status, body)
		}
	}
	return fmt.Errorf("kubetest: kube-apiserver at %s not ready within %s; last /readyz: %s\n%s", host, readyWait, last, p.tail(40))
}

func get(client *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, "", err
	}
	return resp.StatusCode, string(body), nil
}
