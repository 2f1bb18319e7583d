package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
)

func loadServe(t *testing.T, args ...string) config.ControlPlane {
	t.Helper()
	t.Setenv("POD_NAMESPACE", "")
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.ControlPlaneFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadControlPlane(fs)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestXDSIdentityWiring(t *testing.T) {
	insecure, err := withXDSIdentity(loadServe(t, "--source", "kubernetes", "--xds-insecure"), xds.Options{})
	if err != nil || !insecure.Insecure || insecure.RequireIdentity || insecure.Tokens.Reviewer != nil {
		t.Fatalf("--xds-insecure: %+v, %v; want Insecure, identity not required, no token review", insecure, err)
	}
	mtls, err := withXDSIdentity(loadServe(t, "--xds-cert", "c", "--xds-key", "k", "--xds-client-ca", "ca", "--xds-trust-domain", "td"), xds.Options{MaxConnections: 7})
	if err != nil || mtls.CertFile != "c" || mtls.KeyFile != "k" || mtls.ClientCAFile != "ca" || mtls.TrustDomain != "td" ||
		mtls.MaxConnections != 7 || mtls.RequireIdentity || mtls.Insecure {
		t.Fatalf("directory source with mTLS: %+v, %v", mtls, err)
	}
	// Token review needs a Kubernetes client: no kubeconfig and no cluster
	// around the test is an error that says so.
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err = withXDSIdentity(loadServe(t, "--source", "kubernetes", "--xds-cert", "c", "--xds-key", "k"), xds.Options{})
	if err == nil || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Fatalf("token review outside a cluster without --kubeconfig: %v", err)
	}
}

func TestServeRefusesKubernetesWithoutIdentity(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"serve", "--source", "kubernetes"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--xds-insecure") {
		t.Fatalf("exit %d, stderr %q; want 1 and the fix (TLS or --xds-insecure)", code, stderr.String())
	}
}
