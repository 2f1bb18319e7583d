package main

import (
	"k8s.io/client-go/kubernetes"

	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/controlplane/kube"
	"github.com/meshlite/meshlite/internal/controlplane/kubeauth"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
)

// withXDSIdentity fills in how the xDS port is protected: TLS, client
// certificates, ServiceAccount tokens (reviewed through --kubeconfig or the
// in-cluster configuration) and whether identity is required.
func withXDSIdentity(cfg config.ControlPlane, o xds.Options) (xds.Options, error) {
	x := cfg.XDSIdentity
	o.CertFile, o.KeyFile, o.ClientCAFile, o.TrustDomain = x.Cert, x.Key, x.ClientCA, x.TrustDomain
	o.RequireIdentity = cfg.IdentityRequired()
	o.Insecure = x.Insecure && cfg.Source == config.SourceKubernetes
	if !cfg.TokensReviewed() {
		return o, nil
	}
	rc, err := kube.RESTConfig(cfg.Kubeconfig)
	if err != nil {
		return o, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return o, err
	}
	o.Tokens = xds.TokenOptions{Reviewer: kubeauth.New(client), Audience: x.TokenAudience}
	return o, nil
}
