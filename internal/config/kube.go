package config

import (
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/meshlite/meshlite/pkg/routes"
)

// Route sources of the control plane (--source).
const (
	SourceDirectory  = "directory"
	SourceKubernetes = "kubernetes"
)

// DefaultLeaseNamespace is where the status writers' Lease lives when
// neither --lease-namespace nor POD_NAMESPACE says.
const DefaultLeaseNamespace = "meshlite-system"

// Kube is where the control plane reads its tables and, with the
// kubernetes source, how it writes their status.
type Kube struct {
	// Source is "directory" (--routes, the default) or "kubernetes"
	// (RouteTable resources, meshlite.io/v1alpha1).
	Source string `mapstructure:"source"`
	// Kubeconfig is the kubeconfig file; "" means the in-cluster
	// configuration (the pod's ServiceAccount).
	Kubeconfig string `mapstructure:"kubeconfig"`
	// LeaseNamespace and LeaseName name the coordination.k8s.io Lease that
	// elects the one replica writing status. "" namespace means
	// POD_NAMESPACE, else meshlite-system.
	LeaseNamespace string `mapstructure:"lease-namespace"`
	LeaseName      string `mapstructure:"lease-name"`
	// StatusInterval is the shortest time between two status writes of one
	// RouteTable; changes in between are coalesced.
	StatusInterval time.Duration `mapstructure:"status-interval"`
}

// KubeFlags defines serve's source flags.
func KubeFlags(fs *pflag.FlagSet) {
	fs.String("source", SourceDirectory, "where RouteTables come from: directory (--routes) or kubernetes (RouteTable resources, meshlite.io/v1alpha1)")
	fs.String("kubeconfig", "", "kubeconfig file for --source kubernetes (default: the in-cluster ServiceAccount)")
	fs.String("lease-namespace", "", "namespace of the Lease electing the replica that writes RouteTable status (default: POD_NAMESPACE, else "+DefaultLeaseNamespace+")")
	fs.String("lease-name", "meshlite-controlplane", "name of that Lease")
	fs.Duration("status-interval", time.Second, "shortest time between two status writes of one RouteTable")
}

// resolve fills in the defaults that come from the pod's environment.
func (k *Kube) resolve() {
	if k.LeaseNamespace == "" {
		k.LeaseNamespace = os.Getenv("POD_NAMESPACE")
	}
	if k.LeaseNamespace == "" {
		k.LeaseNamespace = DefaultLeaseNamespace
	}
}

func (k Kube) validate(routesDir string, add func(key, format string, args ...any)) {
	switch k.Source {
	case SourceDirectory:
		if routesDir == "" {
			add("routes", "required: the directory of RouteTable files")
		}
	case SourceKubernetes:
		if !routes.IsDNSLabel(k.LeaseNamespace) {
			add("lease-namespace", "%q is not a namespace name", k.LeaseNamespace)
		}
		if k.LeaseName == "" {
			add("lease-name", "required with --source kubernetes")
		}
		if k.StatusInterval <= 0 {
			add("status-interval", "%v: must be positive", k.StatusInterval)
		}
	default:
		add("source", "%q is not a source (use %s or %s)", k.Source, SourceDirectory, SourceKubernetes)
	}
}
