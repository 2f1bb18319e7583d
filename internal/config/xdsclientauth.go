package config

import "github.com/spf13/pflag"

// XDSClientIdentity is how the ambassador checks the control plane and
// proves who it is.
type XDSClientIdentity struct {
	// CA (PEM) turns TLS to the control plane on and verifies it.
	CA string `mapstructure:"xds-ca"`
	// ServerName is the name the control plane's certificate carries when
	// it is not the host of --xds.
	ServerName string `mapstructure:"xds-server-name"`
	// Cert and Key are the client certificate for mutual TLS.
	Cert string `mapstructure:"xds-cert"`
	Key  string `mapstructure:"xds-key"`
	// Token is a projected ServiceAccount token file (audience meshlite),
	// re-read when it rotates, sent over TLS only.
	Token string `mapstructure:"xds-token"`
}

// XDSClientIdentityFlags defines the ambassador's xDS identity flags.
func XDSClientIdentityFlags(fs *pflag.FlagSet) {
	fs.String("xds-ca", "", "CA bundle (PEM) that verifies the control plane; turns TLS to it on")
	fs.String("xds-server-name", "", "name in the control plane's certificate, when it is not the host of --xds")
	fs.String("xds-cert", "", "client certificate (PEM) for mutual TLS with the control plane, re-read when it changes")
	fs.String("xds-key", "", "client private key (PEM) for --xds-cert")
	fs.String("xds-token", "", "ServiceAccount token file (projected, audience meshlite) sent to the control plane over TLS, re-read when it rotates")
}

func (x XDSClientIdentity) validate(xds string, add func(key, format string, args ...any)) {
	if x == (XDSClientIdentity{}) {
		return
	}
	if xds == "" {
		add("xds-ca", "the xDS identity flags need --xds")
	}
	if (x.Cert == "") != (x.Key == "") {
		add("xds-cert", "--xds-cert and --xds-key go together")
	}
	if x.CA == "" {
		add("xds-ca", "required with --xds-server-name, --xds-cert or --xds-token: they need TLS to the control plane")
	}
}
