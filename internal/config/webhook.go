package config

import (
	"fmt"

	"github.com/spf13/pflag"
)

// Webhook is the control plane's mutating admission webhook (POST
// /inject), off unless all three are set.
type Webhook struct {
	// Addr is the HTTPS listen address; empty = off.
	Addr string `mapstructure:"webhook"`
	// Cert and Key are PEM files (a mounted Secret's tls.crt and tls.key),
	// re-read when they change.
	Cert string `mapstructure:"webhook-cert"`
	Key  string `mapstructure:"webhook-key"`
}

// Inject is what the injected ambassador is: shared by `controlplane inject`
// and the webhook.
type Inject struct {
	// Image is the ambassador image; empty means
	// ghcr.io/meshlite/ambassador:<this control plane's version>.
	Image string `mapstructure:"inject-image"`
	// XDS is the injected ambassador's --xds; empty means the control
	// plane's Service as deployed, meshlite-controlplane.meshlite-system:18000.
	XDS string `mapstructure:"inject-xds"`
	// XDSCAConfigMap names a ConfigMap in each injected pod's namespace
	// whose key ca.crt is the control plane's xDS CA: the injected
	// ambassador then gets --xds-ca and --xds-token (a projected
	// ServiceAccount token, audience meshlite). Empty means plaintext xDS:
	// no CA, no token. The name is checked by inject.New.
	XDSCAConfigMap string `mapstructure:"inject-xds-ca-configmap"`
}

// WebhookFlags defines serve's webhook flags.
func WebhookFlags(fs *pflag.FlagSet) {
	fs.String("webhook", "", "mutating admission webhook HTTPS address, e.g. :9443 (paths /inject and /inject/namespace); empty = off; needs --webhook-cert and --webhook-key")
	fs.String("webhook-cert", "", "webhook TLS certificate (PEM), re-read when it changes")
	fs.String("webhook-key", "", "webhook TLS private key (PEM), re-read when it changes")
}

// InjectFlags defines the injected ambassador's settings (serve and inject).
func InjectFlags(fs *pflag.FlagSet) {
	fs.String("inject-image", "", "image of the injected ambassador (default ghcr.io/meshlite/ambassador:<this control plane's version>)")
	fs.String("inject-xds", "", "control plane address the injected ambassador uses (default meshlite-controlplane.meshlite-system:18000)")
	fs.String("inject-xds-ca-configmap", "", "ConfigMap in the pod's namespace whose ca.crt is the control plane's xDS CA: the injected ambassador gets --xds-ca and a projected ServiceAccount token (--xds-token, audience meshlite); empty = plaintext xDS")
}

// LoadInject reads the inject command's settings (flags, MESHLITE_*
// environment, --config file if the flag set has one) and validates them.
func LoadInject(fs *pflag.FlagSet) (Inject, error) {
	var cfg Inject
	if _, err := load(fs, &cfg); err != nil {
		return Inject{}, err
	}
	var errs []error
	cfg.validate(func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, args...)...))
	})
	return cfg, joinLines(errs)
}

func (w Webhook) validate(add func(key, format string, args ...any)) {
	set := 0
	for _, v := range []string{w.Addr, w.Cert, w.Key} {
		if v != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		add("webhook", "--webhook, --webhook-cert and --webhook-key go together: set all three, or none to turn the webhook off")
	}
	if w.Addr != "" {
		if err := checkAddr(w.Addr); err != nil {
			add("webhook", "%v (want HOST:PORT or :PORT, for example :9443)", err)
		}
	}
}

func (i Inject) validate(add func(key, format string, args ...any)) {
	if i.XDS != "" {
		if err := checkAddr(i.XDS); err != nil {
			add("inject-xds", "%v (want HOST:PORT of the control plane's xDS Service)", err)
		}
	}
}
