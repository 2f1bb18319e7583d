package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// KubeVersion is the Kubernetes release whose kube-apiserver and kubectl
// the tests run; scripts/kube-deps.sh builds it (hack/kube/go.mod pins it).
const KubeVersion = "v1.37.2"

// The binaries a cluster runs.
const (
	etcdBin      = "etcd"
	apiserverBin = "kube-apiserver"
	kubectlBin   = "kubectl"
)

// binDir returns the directory holding the binaries: $MESHLITE_KUBE_BIN if
// set, else the cache scripts/kube-deps.sh fills ($MESHLITE_KUBE_CACHE, or
// meshlite/kube-VERSION under the user's cache directory).
func binDir() (string, error) {
	if dir := os.Getenv("MESHLITE_KUBE_BIN"); dir != "" {
		return dir, nil
	}
	if dir := os.Getenv("MESHLITE_KUBE_CACHE"); dir != "" {
		return dir, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kubetest: no cache directory for the binaries: %w", err)
	}
	return filepath.Join(cache, "meshlite", "kube-"+KubeVersion), nil
}

// findBinaries returns the binaries' paths by name, or an error naming the
// first one missing and how to get it.
func findBinaries() (map[string]string, error) {
	dir, err := binDir()
	if err != nil {
		return nil, err
	}
	bins := make(map[string]string, 3)
	for _, name := range []string{etcdBin, apiserverBin, kubectlBin} {
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("kubetest: no %s in %s (run scripts/kube-deps.sh, or set MESHLITE_KUBE_BIN to a directory with etcd, kube-apiserver and kubectl)", name, dir)
		}
		bins[name] = path
	}
	return bins, nil
}

// requireBinaries returns the binaries' paths, or skips the test when they
// are missing; under CI=true it fails it instead, since CI must run it.
func requireBinaries(t testing.TB) map[string]string {
	t.Helper()
	bins, err := findBinaries()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return bins
}
