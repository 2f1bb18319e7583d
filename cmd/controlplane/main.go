// Command controlplane serves meshlite RouteTables from a directory or the
// Kubernetes API to every ambassador over xDS (ADS), and validates such a
// directory for CI.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshlite/meshlite/internal/cli"
	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/controlplane"
	"github.com/meshlite/meshlite/internal/controlplane/kube"
	"github.com/meshlite/meshlite/internal/controlplane/suggest"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/telemetry"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code: 0 success,
// 1 failure, 2 usage error.
func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:   "controlplane",
		Short: "meshlite control plane: serves RouteTables to ambassadors over xDS",
	}
	root.AddCommand(serveCmd(stderr), validateCmd(stdout), suggestCmd(os.Stdin, stdout, stderr),
		cli.VersionCmd("controlplane", telemetry.Version, stdout))
	root.AddCommand(injectCmd(os.Stdin, stdout))
	return cli.Run(root, args, stdout, stderr)
}

func serveCmd(stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "watch the RouteTable directory (or, with --source kubernetes, the RouteTable resources) and serve it over ADS until SIGTERM",
		Args:  cli.Args(cobra.ExactArgs(0)),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadControlPlane(cmd.Flags())
			if err != nil {
				return err
			}
			log, err := telemetry.NewLogger(stderr, cfg.LogLevel)
			if err != nil {
				return err
			}
			kubeOpts, err := kubernetesOptions(cfg.Kube)
			if err != nil {
				return err
			}
			xo, err := withXDSIdentity(cfg, xds.Options{
				MaxConnections: cfg.MaxConnections, MaxConcurrentStreams: uint32(cfg.MaxStreams),
				KeepaliveTime: cfg.KeepaliveTime, KeepaliveTimeout: cfg.KeepaliveTimeout,
				MinClientPing: cfg.MinClientPing, StopTimeout: cfg.ShutdownGrace,
			})
			if err != nil {
				return err
			}
			cp, err := controlplane.New(controlplane.Options{
				RoutesDir: cfg.Routes, Kubernetes: kubeOpts, Logger: log, Debounce: cfg.Debounce, Resync: cfg.Resync,
				AdminOpen: cfg.AdminOpen, ShutdownGrace: cfg.ShutdownGrace, XDS: xo,
				Webhook: controlplane.WebhookOptions{Addr: cfg.Webhook.Addr, CertFile: cfg.Webhook.Cert, KeyFile: cfg.Webhook.Key,
					Inject: injectOptions(cfg.Inject)},
			})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			log.Info("controlplane: starting", "source", cfg.Source, "routes", cfg.Routes, "xds", cfg.XDS, "admin", cfg.Admin, "version", telemetry.Version)
			return cp.Run(ctx, cfg.XDS, cfg.Admin)
		},
	}
	config.ControlPlaneFlags(cmd.Flags())
	return cmd
}

// kubernetesOptions are the Kubernetes source's settings; nil for the
// directory source.
func kubernetesOptions(k config.Kube) (*controlplane.KubernetesOptions, error) {
	if k.Source != config.SourceKubernetes {
		return nil, nil
	}
	rc, err := kube.RESTConfig(k.Kubeconfig)
	if err != nil {
		return nil, err
	}
	return &controlplane.KubernetesOptions{
		Config: rc, LeaseNamespace: k.LeaseNamespace, LeaseName: k.LeaseName, StatusInterval: k.StatusInterval,
	}, nil
}

func validateCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "validate DIR",
		Short: "check every RouteTable file in DIR; one line per problem, exit 1 on any",
		Args:  cli.Args(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, a []string) error {
			ok, err := controlplane.Validate(a[0], stdout)
			if err != nil {
				return err
			}
			if !ok {
				return cli.ErrProblems
			}
			return nil
		},
	}
}

func suggestCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var opts suggest.Options
	cmd := &cobra.Command{
		Use:   "suggest [flags] [FILE...]",
		Short: "suggest a RouteTable per workload from audit logs (plain or gzip; - or none: stdin), or --report what enforce mode would deny",
		RunE: func(_ *cobra.Command, files []string) error {
			if f, ok := stderr.(*os.File); ok && isTerminal(f) {
				opts.Progress = stderr
			}
			return suggest.Run(opts, files, stdin, stdout, stderr)
		},
	}
	suggest.AddFlags(cmd.Flags(), &opts)
	return cmd
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
