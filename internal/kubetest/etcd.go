package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// etcdWait bounds etcd's start, until its client socket exists.
const etcdWait = 30 * time.Second

// startEtcd starts a one-member etcd with its data in dir and returns it
// with the URL kube-apiserver reaches it at. Clients use a Unix socket in
// dir and the peer port is the kernel's choice (:0), so no port can clash.
// Nothing is synced to disk: the data dies with the test.
func startEtcd(bin, dir string) (*process, string, error) {
	sock := filepath.Join(dir, "etcd.sock")
	url := "unix://" + sock
	p, err := startProcess("etcd", filepath.Join(dir, "etcd.log"), bin,
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+url,
		// etcd refuses a unix:// URL here and nothing reads it; an address
		// nobody listens on keeps anything that did from reaching another etcd.
		"--advertise-client-urls=http://127.0.0.111:0",
		"--listen-peer-urls=http://127.0.0.1:0",
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return nil, "", err
	}
	for deadline := time.Now().Add(etcdWait); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return p, url, nil
		}
		if p.exited() || time.Now().After(deadline) {
			p.stop(time.Second)
			return nil, "", fmt.Errorf("kubetest: etcd did not open %s within %s (%v)\n%s", sock, etcdWait, p.err, p.tail(30))
		}
	}
}
