package deploytest

import (
	"fmt"
	"strconv"
)

// The fields of Kubernetes objects the checks read. Decoding is lenient:
// fields not listed here are ignored.

// Meta is an object's metadata.
type Meta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Deployment is an apps/v1 Deployment.
type Deployment struct {
	Metadata Meta `yaml:"metadata"`
	Spec     struct {
		Replicas *int          `yaml:"replicas"`
		Selector LabelSelector `yaml:"selector"`
		Template struct {
			Metadata Meta    `yaml:"metadata"`
			Spec     PodSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// LabelSelector selects by labels (Matches, in networkpolicy.go).
type LabelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []SelectorTerm    `yaml:"matchExpressions"`
}

// SelectorTerm is one matchExpressions entry.
type SelectorTerm struct {
	Key      string   `yaml:"key"`
	Operator string   `yaml:"operator"` // In, NotIn, Exists, DoesNotExist
	Values   []string `yaml:"values"`
}

// PodSpec is a pod's spec.
type PodSpec struct {
	ServiceAccountName           string             `yaml:"serviceAccountName"`
	AutomountServiceAccountToken *bool              `yaml:"automountServiceAccountToken"`
	SecurityContext              PodSecurityContext `yaml:"securityContext"`
	InitContainers               []Container        `yaml:"initContainers"`
	Containers                   []Container        `yaml:"containers"`
	Volumes                      []Volume           `yaml:"volumes"`
}

// AllContainers returns the init containers, then the containers.
func (p PodSpec) AllContainers() []Container {
	return append(append([]Container(nil), p.InitContainers...), p.Containers...)
}

// Volume is a pod volume; only ConfigMap sources are modelled.
type Volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
}

// PodSecurityContext is the pod-level security context.
type PodSecurityContext struct {
	RunAsNonRoot   *bool           `yaml:"runAsNonRoot"`
	RunAsUser      *int64          `yaml:"runAsUser"`
	RunAsGroup     *int64          `yaml:"runAsGroup"`
	SeccompProfile *SeccompProfile `yaml:"seccompProfile"`
	Sysctls        []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"sysctls"`
}

// SeccompProfile names a seccomp profile type.
type SeccompProfile struct {
	Type string `yaml:"type"`
}

// Container is one container of a pod.
type Container struct {
	Name            string           `yaml:"name"`
	Image           string           `yaml:"image"`
	RestartPolicy   string           `yaml:"restartPolicy"`
	Command         []string         `yaml:"command"`
	Args            []string         `yaml:"args"`
	Env             []EnvVar         `yaml:"env"`
	Ports           []ContainerPort  `yaml:"ports"`
	StartupProbe    *Probe           `yaml:"startupProbe"`
	ReadinessProbe  *Probe           `yaml:"readinessProbe"`
	LivenessProbe   *Probe           `yaml:"livenessProbe"`
	Resources       Resources        `yaml:"resources"`
	SecurityContext *SecurityContext `yaml:"securityContext"`
	VolumeMounts    []VolumeMount    `yaml:"volumeMounts"`
}

// EnvVar is an environment variable, with a literal value or a reference.
type EnvVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		ResourceFieldRef *struct {
			Resource string `yaml:"resource"`
		} `yaml:"resourceFieldRef"`
	} `yaml:"valueFrom"`
}

// ContainerPort is a named container port.
type ContainerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
}

// Probe is an HTTP probe.
type Probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port PortValue `yaml:"port"`
	} `yaml:"httpGet"`
}

// PortValue is a port given as a number or as a container port's name.
type PortValue string

// Resolve returns the port number, looking a name up in ports.
func (p PortValue) Resolve(ports []ContainerPort) (int, error) {
	if n, err := strconv.Atoi(string(p)); err == nil {
		return n, nil
	}
	for _, cp := range ports {
		if cp.Name == string(p) {
			return cp.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("port %q is neither a number nor a named container port", string(p))
}

// Resources are requests and limits by resource name.
type Resources struct {
	Requests map[string]string `yaml:"requests"`
	Limits   map[string]string `yaml:"limits"`
}

// SecurityContext is a container's security context.
type SecurityContext struct {
	RunAsNonRoot             *bool           `yaml:"runAsNonRoot"`
	RunAsUser                *int64          `yaml:"runAsUser"`
	RunAsGroup               *int64          `yaml:"runAsGroup"`
	ReadOnlyRootFilesystem   *bool           `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool           `yaml:"allowPrivilegeEscalation"`
	Privileged               *bool           `yaml:"privileged"`
	SeccompProfile           *SeccompProfile `yaml:"seccompProfile"`
	Capabilities             *struct {
		Add  []string `yaml:"add"`
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

// VolumeMount mounts a volume into a container.
type VolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	SubPath   string `yaml:"subPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

// Service is a v1 Service.
type Service struct {
	Metadata Meta `yaml:"metadata"`
	Spec     struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []ServicePort     `yaml:"ports"`
	} `yaml:"spec"`
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name       string    `yaml:"name"`
	Port       int       `yaml:"port"`
	TargetPort PortValue `yaml:"targetPort"`
}

// PodDisruptionBudget is a policy/v1 PodDisruptionBudget.
type PodDisruptionBudget struct {
	Metadata Meta `yaml:"metadata"`
	Spec     struct {
		Selector LabelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

// ConfigMap is a v1 ConfigMap.
type ConfigMap struct {
	Metadata Meta              `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

// Selects reports whether every selector label is among labels.
func Selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// RunAs returns the UID and GID a container runs as: its own security
// context's, else the pod's; ok is false when either is left to the image.
func RunAs(pod PodSecurityContext, c Container) (uid, gid int64, ok bool) {
	u, g := pod.RunAsUser, pod.RunAsGroup
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			u = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			g = sc.RunAsGroup
		}
	}
	if u == nil || g == nil {
		return 0, 0, false
	}
	return *u, *g, true
}
