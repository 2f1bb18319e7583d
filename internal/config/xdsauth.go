package config

import (
	"github.com/spf13/pflag"
)

// XDSIdentity is how the control plane protects its xDS port: TLS, and who
// may read which table (README "xDS identity").
type XDSIdentity struct {
	// Cert and Key (PEM, a mounted Secret's tls.crt and tls.key) serve xDS
	// over TLS 1.2+, re-read when they change; "" serves plaintext.
	Cert string `mapstructure:"xds-cert"`
	Key  string `mapstructure:"xds-key"`
	// ClientCA (PEM) verifies client certificates, whose SPIFFE ID
	// (spiffe://<td>/ns/<namespace>/sa/<workload>) or CN names the
	// workload; "" asks for none.
	ClientCA string `mapstructure:"xds-client-ca"`
	// TrustDomain, when set, is the only SPIFFE trust domain accepted.
	TrustDomain string `mapstructure:"xds-trust-domain"`
	// TokenReview checks ServiceAccount tokens with the API server's
	// TokenReview API. On by default with --source kubernetes and TLS.
	TokenReview bool `mapstructure:"xds-token-review"`
	// TokenAudience is the audience tokens must be issued for.
	TokenAudience string `mapstructure:"xds-token-audience"`
	// Insecure waives the identity --source kubernetes requires (local
	// development only; logged as a warning).
	Insecure bool `mapstructure:"xds-insecure"`
}

// XDSIdentityFlags defines serve's xDS identity flags.
func XDSIdentityFlags(fs *pflag.FlagSet) {
	fs.String("xds-cert", "", "xDS TLS certificate (PEM), re-read when it changes; empty serves plaintext")
	fs.String("xds-key", "", "xDS TLS private key (PEM), re-read when it changes")
	fs.String("xds-client-ca", "", "CA bundle (PEM) that verifies ambassadors' client certificates (mutual TLS; "+
		"the workload is the SPIFFE ID spiffe://<td>/ns/<namespace>/sa/<workload>, else the CN)")
	fs.String("xds-trust-domain", "", "the only SPIFFE trust domain accepted in client certificates (default: any)")
	fs.Bool("xds-token-review", false, "accept ServiceAccount tokens checked by TokenReview (--kubeconfig or in-cluster); "+
		"on by default with --source kubernetes and --xds-cert")
	fs.String("xds-token-audience", "meshlite", "audience ServiceAccount tokens must be issued for")
	fs.Bool("xds-insecure", false, "with --source kubernetes, serve without identity: any pod can read any namespace's tables "+
		"(local development only)")
}

// TokensReviewed reports whether the control plane checks ServiceAccount
// tokens: asked for, or by default with the kubernetes source over TLS.
func (c ControlPlane) TokensReviewed() bool {
	return c.XDSIdentity.TokenReview || (c.Source == SourceKubernetes && c.XDSIdentity.Cert != "" && !c.XDSIdentity.Insecure)
}

// IdentityRequired reports whether every xDS client must prove who it is:
// with the kubernetes source, unless --xds-insecure.
func (c ControlPlane) IdentityRequired() bool {
	return c.Source == SourceKubernetes && !c.XDSIdentity.Insecure
}

func (c ControlPlane) validateXDSIdentity(add func(key, format string, args ...any)) {
	x := c.XDSIdentity
	if (x.Cert == "") != (x.Key == "") {
		add("xds-cert", "--xds-cert and --xds-key go together: set both, or neither for plaintext")
	}
	if x.Cert == "" && x.ClientCA != "" {
		add("xds-client-ca", "client certificates need TLS: give --xds-cert and --xds-key too")
	}
	if x.Cert == "" && x.TokenReview {
		add("xds-token-review", "tokens must not cross plaintext: give --xds-cert and --xds-key too")
	}
	if c.IdentityRequired() && x.Cert == "" {
		add("xds-cert", "--source kubernetes serves each ambassador only its own namespace's tables, which needs TLS: "+
			"give --xds-cert and --xds-key (ServiceAccount tokens are then reviewed), or --xds-insecure for local development")
	}
	if x.TokenAudience == "" && c.TokensReviewed() {
		add("xds-token-audience", "must not be empty (the ambassadors' projected token audience, meshlite by default)")
	}
}
