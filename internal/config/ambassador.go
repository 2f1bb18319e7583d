// Package config holds the typed settings of the meshlite binaries. It is the
// only package that knows viper: flags > MESHLITE_* environment > --config
// file > defaults.
package config

import (
	"errors"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/meshlite/meshlite/pkg/policy"
)

// Ambassador is the ambassador's process configuration. Every duration is a
// Go duration string ("10s") in files and the environment.
type Ambassador struct {
	ConfigFile string `mapstructure:"config"`
	// Listen is the forward-proxy door (absolute-form requests and CONNECT).
	Listen string `mapstructure:"listen"`
	// Admin serves /healthz, /readyz, /metrics, /version, /config_dump, /explain.
	Admin string `mapstructure:"admin"`
	// AdminOpen lets non-loopback clients read /config_dump, /explain and /debug/pprof/.
	AdminOpen bool `mapstructure:"admin-open"`
	// Routes is a RouteTable file: the static table (or the bootstrap table
	// with XDS set).
	Routes   string `mapstructure:"routes"`
	LogLevel string `mapstructure:"log-level"`

	XDS      string `mapstructure:"xds"`
	Workload string `mapstructure:"workload"`
	// Namespace is the pod's Kubernetes namespace, sent as node metadata;
	// with it the ambassador subscribes to "<namespace>/<workload>" (the
	// control plane's kubernetes source). Default $POD_NAMESPACE; empty
	// means none (the directory source's plain "<workload>").
	Namespace string `mapstructure:"namespace"`
	NodeID    string `mapstructure:"node-id"`
	// XDSClientIdentity is TLS to the control plane and the proof of who
	// this ambassador is (xdsclientauth.go).
	XDSClientIdentity `mapstructure:",squash"`

	ShutdownGrace     time.Duration `mapstructure:"shutdown-grace"`
	ReadHeaderTimeout time.Duration `mapstructure:"read-header-timeout"`
	IdleTimeout       time.Duration `mapstructure:"idle-timeout"`
	MaxHeaderBytes    int           `mapstructure:"max-header-bytes"`
	MaxConnections    int           `mapstructure:"max-connections"`

	UpstreamTimeout     time.Duration `mapstructure:"upstream-timeout"`
	DialTimeout         time.Duration `mapstructure:"dial-timeout"`
	MaxIdleConnsPerHost int           `mapstructure:"max-idle-conns-per-host"`
	// TunnelIdleTimeout closes a CONNECT tunnel, protocol upgrade or
	// transparent stream with no bytes either way for this long.
	TunnelIdleTimeout time.Duration `mapstructure:"tunnel-idle-timeout"`

	// DNSCache keeps name lookups for their records' TTL (at most 5
	// minutes; "no such host" at most 5 seconds); false asks the name
	// servers for every request.
	DNSCache bool `mapstructure:"dns-cache"`
	// ResolvConf is the resolver configuration read at start (a hidden
	// flag for tests and benchmarks); "" means /etc/resolv.conf.
	ResolvConf string `mapstructure:"resolv-conf"`

	AuditOverflow string `mapstructure:"audit-overflow"`

	// DenyCIDRs are ranges no rule, route or mode can allow ("10.0.0.0/8",
	// "203.0.113.7/32"), merged with each table's spec.denyCidrs. Empty
	// means none beyond the always-denied address classes.
	DenyCIDRs []string `mapstructure:"deny-cidrs"`

	// Transparent is the transparent door's address (127.0.0.1:PORT; the
	// door also listens on [::1]:PORT); empty = off. The port is the one
	// `ambassador init --capture-port` redirects to.
	Transparent string `mapstructure:"transparent"`
	// DetectTimeout bounds the transparent door's wait for a connection's
	// first bytes; a client silent for that long is decided on its
	// original address.
	DetectTimeout time.Duration `mapstructure:"detect-timeout"`

	// Compat holds the Proxy__* variables, when set.
	Compat Compat `mapstructure:"-"`
}

// Compat is the drop-in environment of the classic ambassador proxy:
// Proxy__Port, Proxy__Request__UriMap__Source, Proxy__Request__UriMap__Target
// and Proxy__Request__RejectUnknown.
type Compat struct {
	Port          string
	Source        string
	Target        string
	RejectUnknown string
}

// Set reports whether any compat variable is present.
func (c Compat) Set() bool {
	return c.Port != "" || c.Source != "" || c.Target != "" || c.RejectUnknown != ""
}

// DenyList parses DenyCIDRs; each range's source reads "--deny-cidrs[i]".
// The error joins one problem per bad entry.
func (c *Ambassador) DenyList() ([]policy.DenyCIDR, error) {
	deny, errs := c.denyList()
	return deny, errors.Join(errs...)
}

func (c *Ambassador) denyList() ([]policy.DenyCIDR, []error) {
	return policy.ParseDenyCIDRs("--deny-cidrs", c.DenyCIDRs)
}

// AmbassadorFlags defines the ambassador's flags with their defaults.
func AmbassadorFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "process settings file (YAML); flags and MESHLITE_* variables override it")
	fs.String("listen", "127.0.0.1:1080", "forward-proxy door address (absolute-form HTTP and CONNECT)")
	fs.String("admin", ":9901", "admin address (/healthz /readyz /metrics /version /config_dump /explain)")
	fs.Bool("admin-open", false, "let non-loopback clients read /config_dump, /explain and /debug/pprof/")
	fs.String("routes", "", "RouteTable file: the static table, or the bootstrap table with --xds")
	fs.String("log-level", "info", "operational log level: debug, info, warn or error")
	fs.String("xds", "", "control plane address HOST:PORT; empty serves the static table only")
	fs.String("workload", "", "workload name whose RouteTable to subscribe to (required with --xds)")
	fs.String("namespace", "", "Kubernetes namespace sent to the control plane; with it the ambassador subscribes to "+
		"NAMESPACE/WORKLOAD (default: POD_NAMESPACE; an explicit empty value means none)")
	fs.String("node-id", "", "xDS node id (default: POD_NAME, else the host name)")
	fs.Duration("shutdown-grace", 10*time.Second, "how long in-flight requests may finish after SIGTERM")
	fs.Duration("read-header-timeout", 10*time.Second, "time allowed to read a request's headers")
	fs.Duration("idle-timeout", 90*time.Second, "keep-alive idle timeout for client connections")
	fs.Int("max-header-bytes", 16<<10, "request head size limit in bytes: request line and header fields (larger gets 431); each connection with a request in progress holds a read buffer of this size plus 4 KiB")
	fs.Int("max-connections", 4096, "concurrent client connections per door (0 = unlimited)")
	fs.Duration("upstream-timeout", 30*time.Second, "whole-call timeout for routes without their own, retries included")
	fs.Duration("dial-timeout", 5*time.Second, "upstream connect timeout")
	fs.Duration("tunnel-idle-timeout", time.Hour, "close a CONNECT tunnel, upgrade or relayed stream with no bytes either way for this long")
	fs.Bool("dns-cache", true, "keep DNS answers for their TTL (at most 5m; not-found at most 5s); false resolves for every request")
	fs.String("resolv-conf", "/etc/resolv.conf", "resolver configuration (a nameserver may carry a port, 127.0.0.1:5353)")
	_ = fs.MarkHidden("resolv-conf") // for tests and benchmarks
	fs.Int("max-idle-conns-per-host", 256, "idle upstream connections kept per host")
	fs.String("audit-overflow", "block", "when the audit sink cannot keep up: block (never lose a line) or drop (count it)")
	fs.StringSlice("deny-cidrs", nil, "comma-separated CIDRs no rule, route or mode can allow (added to each table's "+
		"spec.denyCidrs), e.g. 10.0.0.0/8,fd00::/8")
	fs.String("transparent", "", "transparent door address for the connections ambassador init captures, "+
		"e.g. 127.0.0.1:15001 (also listens on [::1] at that port); empty = off")
	fs.Duration("detect-timeout", time.Second, "transparent door: how long to wait for a connection's first bytes "+
		"before deciding on its original address")
	XDSClientIdentityFlags(fs)
}

// LoadAmbassador merges flags, environment (MESHLITE_*, then Proxy__*), the
// --config file and defaults, and validates the result.
func LoadAmbassador(fs *pflag.FlagSet) (Ambassador, error) {
	var cfg Ambassador
	v, err := load(fs, &cfg)
	if err != nil {
		return Ambassador{}, err
	}
	cfg.Compat = Compat{
		Port:          os.Getenv("Proxy__Port"),
		Source:        os.Getenv("Proxy__Request__UriMap__Source"),
		Target:        os.Getenv("Proxy__Request__UriMap__Target"),
		RejectUnknown: os.Getenv("Proxy__Request__RejectUnknown"),
	}
	if cfg.Compat.Port != "" && !explicit(v, fs, "listen") {
		cfg.Listen = net.JoinHostPort("127.0.0.1", cfg.Compat.Port)
	}
	if !explicit(v, fs, "namespace") {
		cfg.Namespace = os.Getenv("POD_NAMESPACE")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return cfg, joinLines(errs)
	}
	return cfg, nil
}

// explicit reports whether key was set by a flag, MESHLITE_* or the file
// rather than by its default.
func explicit(v *viper.Viper, fs *pflag.FlagSet, key string) bool {
	if f := fs.Lookup(key); f != nil && f.Changed {
		return true
	}
	_, inEnv := os.LookupEnv("MESHLITE_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_")))
	return inEnv || v.InConfig(key)
}
