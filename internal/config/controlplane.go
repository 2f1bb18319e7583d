package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// ControlPlane holds the control plane's settings. Durations are Go duration
// strings ("10s") in files and the environment.
type ControlPlane struct {
	ConfigFile string `mapstructure:"config"`
	// Routes is the directory of RouteTable files (a mounted ConfigMap).
	Routes string `mapstructure:"routes"`
	// XDS is the ADS (gRPC) listen address.
	XDS string `mapstructure:"xds"`
	// Admin serves /healthz, /readyz, /metrics and /status.
	Admin string `mapstructure:"admin"`
	// AdminOpen lets non-loopback clients read /status and /debug/pprof/.
	AdminOpen bool   `mapstructure:"admin-open"`
	LogLevel  string `mapstructure:"log-level"`

	// MaxConnections caps open xDS connections.
	MaxConnections int `mapstructure:"max-connections"`
	// MaxStreams caps concurrent streams per xDS connection.
	MaxStreams int `mapstructure:"max-streams"`
	// KeepaliveTime is the idle time before the server pings a client;
	// KeepaliveTimeout how long it waits for the answer.
	KeepaliveTime    time.Duration `mapstructure:"keepalive-time"`
	KeepaliveTimeout time.Duration `mapstructure:"keepalive-timeout"`
	// MinClientPing is the shortest keepalive interval clients may use.
	MinClientPing time.Duration `mapstructure:"min-client-ping"`
	// ShutdownGrace bounds the graceful stop after SIGTERM.
	ShutdownGrace time.Duration `mapstructure:"shutdown-grace"`
	// Debounce is the coalescing window of either source: the first change
	// after a quiet period is published at once, later ones within the
	// window together when it ends; a file written in place waits until
	// the directory has been quiet this long. Resync rescans without
	// changes (0 disables).
	Debounce time.Duration `mapstructure:"debounce"`
	Resync   time.Duration `mapstructure:"resync"`

	Webhook `mapstructure:",squash"`
	Inject  `mapstructure:",squash"`
	Kube    `mapstructure:",squash"`

	XDSIdentity `mapstructure:",squash"`
}

// ControlPlaneFlags defines the serve command's flags with their defaults.
func ControlPlaneFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "process settings file (YAML); flags and MESHLITE_* variables override it")
	fs.String("routes", "/etc/meshlite/routes", "directory of RouteTable files (*.yaml, *.yml), watched for changes")
	fs.String("xds", ":18000", "ADS (gRPC) listen address")
	fs.String("admin", ":9902", "admin address (/healthz /readyz /metrics /status)")
	fs.Bool("admin-open", false, "let non-loopback clients read /status (it names files, pods and their addresses) and /debug/pprof/")
	fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Int("max-connections", 10000, "open xDS connections allowed (more wait in the accept queue)")
	fs.Int("max-streams", 16, "concurrent streams per xDS connection")
	fs.Duration("keepalive-time", 30*time.Second, "idle time before the server pings an xDS client")
	fs.Duration("keepalive-timeout", 10*time.Second, "time to wait for a keepalive answer before closing")
	fs.Duration("min-client-ping", 10*time.Second, "shortest keepalive interval clients may use; faster ones are disconnected")
	fs.Duration("shutdown-grace", 10*time.Second, "how long streams may take to close after SIGTERM")
	fs.Duration("debounce", 100*time.Millisecond, "coalescing window: the first change after a quiet period is published at once, later ones within the window together when it ends (a file written in place waits until the directory is quiet this long)")
	fs.Duration("resync", 30*time.Second, "rescan the directory this often even without change events (0 = never)")
	WebhookFlags(fs)
	InjectFlags(fs)
	KubeFlags(fs)
	XDSIdentityFlags(fs)
}

// LoadControlPlane merges flags, MESHLITE_* environment, the --config file
// and defaults, and validates the result (one error line per problem).
func LoadControlPlane(fs *pflag.FlagSet) (ControlPlane, error) {
	var cfg ControlPlane
	if _, err := load(fs, &cfg); err != nil {
		return ControlPlane{}, err
	}
	cfg.Kube.resolve()
	return cfg, errors.Join(cfg.Validate()...)
}

// Validate returns one error per problem, naming the setting and the fix.
func (c ControlPlane) Validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, args...)...))
	}
	for key, addr := range map[string]string{"xds": c.XDS, "admin": c.Admin} {
		if err := checkAddr(addr); err != nil {
			add(key, "%v (want HOST:PORT or :PORT, for example :18000)", err)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log-level", "%q is not a level (use debug, info, warn or error)", c.LogLevel)
	}
	if c.MaxConnections < 1 {
		add("max-connections", "%d: use at least 1", c.MaxConnections)
	}
	if c.MaxStreams < 1 || c.MaxStreams > 1<<20 {
		add("max-streams", "%d: use 1 to 1048576", c.MaxStreams)
	}
	for key, d := range map[string]time.Duration{
		"keepalive-time": c.KeepaliveTime, "keepalive-timeout": c.KeepaliveTimeout,
		"min-client-ping": c.MinClientPing, "shutdown-grace": c.ShutdownGrace, "debounce": c.Debounce,
	} {
		if d <= 0 {
			add(key, "%v: must be positive", d)
		}
	}
	if c.Resync < 0 {
		add("resync", "%v: must not be negative (0 turns the periodic rescan off)", c.Resync)
	}
	c.Webhook.validate(add)
	c.Inject.validate(add)
	c.Kube.validate(c.Routes, add)
	c.validateXDSIdentity(add)
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}
