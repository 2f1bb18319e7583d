package inject

import (
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
)

// What the injected containers are called and where the ambassador listens.
const (
	// AmbassadorName is the injected native sidecar's name.
	AmbassadorName = "ambassador"
	// CaptureName is the injected `ambassador init` container's name.
	CaptureName = "capture"
	// AdminPort is the ambassador's --admin port on the pod IP (probes and
	// Prometheus); AdminPortName names it in the pod.
	AdminPort     = 9901
	AdminPortName = "meshlite-admin"
	// ForwardProxy is the forward-proxy door (--listen) that env capture
	// points the app's proxy variables at.
	ForwardProxy = "127.0.0.1:1080"
	// ProxyUser is the ambassador's user and group, the identity the
	// transparent capture exempts.
	ProxyUser = capture.DefaultProxyUID
	// LowPortsSysctl lets the non-root ambassador open local mapping doors
	// below 1024 (http://localhost/api is port 80).
	LowPortsSysctl = "net.ipv4.ip_unprivileged_port_start"
)

// The xDS identity (Options.XDSCAConfigMap): one projected volume, mounted
// read-only into the ambassador, holding its ServiceAccount token and the
// control plane's CA.
const (
	// XDSVolume is the projected volume's name.
	XDSVolume = "meshlite-xds"
	// XDSDir is where the ambassador mounts it.
	XDSDir = "/var/run/secrets/meshlite.io/xds"
	// XDSTokenFile and XDSCAKey are the file names in XDSDir; XDSCAKey is
	// also the key read from the ConfigMap.
	XDSTokenFile = "token"
	XDSCAKey     = "ca.crt"
	// TokenExpiration is the token's requested lifetime in seconds; the
	// kubelet renews it at 80% of that, and the ambassador re-reads the
	// file when it changes.
	TokenExpiration = 3600
)

// transparentDoor is the ambassador's --transparent address; its port is
// the capture's --capture-port.
var transparentDoor = "127.0.0.1:" + strconv.Itoa(capture.DefaultCapturePort)

// proxyEnv are the variables env capture sets on app containers (both
// spellings: runtimes disagree on which they read). no_proxy names only
// loopback, where the local mapping doors are: every other destination,
// cluster Services included, goes through the allowlist.
func proxyEnv() []corev1.EnvVar {
	proxy := "http://" + ForwardProxy
	const noProxy = "localhost,127.0.0.1,::1"
	return []corev1.EnvVar{
		{Name: "http_proxy", Value: proxy}, {Name: "HTTP_PROXY", Value: proxy},
		{Name: "https_proxy", Value: proxy}, {Name: "HTTPS_PROXY", Value: proxy},
		{Name: "no_proxy", Value: noProxy}, {Name: "NO_PROXY", Value: noProxy},
	}
}

// ambassador builds the native sidecar.
func ambassador(s settings, controlPlane string) corev1.Container {
	args := []string{"--xds", controlPlane, "--workload", s.workload, "--namespace", "$(POD_NAMESPACE)", "--admin", ":" + strconv.Itoa(AdminPort)}
	var mounts []corev1.VolumeMount
	if s.xdsCA != "" {
		args = append(args, "--xds-ca", path.Join(XDSDir, XDSCAKey), "--xds-token", path.Join(XDSDir, XDSTokenFile))
		mounts = []corev1.VolumeMount{{Name: XDSVolume, MountPath: XDSDir, ReadOnly: true}}
	}
	if s.transparent {
		args = append(args, "--transparent", transparentDoor)
	} else {
		args = append(args, "--listen", ForwardProxy)
	}
	always := corev1.ContainerRestartPolicyAlways
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: s.cpu, corev1.ResourceMemory: s.mem},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: s.memMax},
	}
	if !s.cpuMax.IsZero() {
		res.Limits[corev1.ResourceCPU] = s.cpuMax
	}
	return corev1.Container{
		Name:          AmbassadorName,
		Image:         s.image,
		RestartPolicy: &always,
		Args:          args,
		Env: []corev1.EnvVar{
			fieldEnv("POD_NAME", "metadata.name"), // the xDS node id
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
				Resource: "limits.memory", Divisor: resource.MustParse("1"),
			}}},
		},
		Ports: []corev1.ContainerPort{{Name: AdminPortName, ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP}},
		// the app starts once this passes: a table is loaded, the doors are
		// open and, with the capture, the self-check passed
		StartupProbe:   probe("/readyz", 1, 60),
		ReadinessProbe: probe("/readyz", 5, 3),
		LivenessProbe:  probe("/healthz", 10, 3),
		Resources:      res,
		VolumeMounts:   mounts,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: ptr(int64(ProxyUser)), RunAsGroup: ptr(int64(ProxyUser)), RunAsNonRoot: ptr(true),
			ReadOnlyRootFilesystem: ptr(true), AllowPrivilegeEscalation: ptr(false),
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// xdsVolume is the projected volume of the xDS identity: a token for the
// control plane's audience and the CA from ConfigMap configMap.
func xdsVolume(configMap string) corev1.Volume {
	return corev1.Volume{Name: XDSVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: xds.DefaultAudience, ExpirationSeconds: ptr(int64(TokenExpiration)), Path: XDSTokenFile,
			}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: configMap},
				Items:                []corev1.KeyToPath{{Key: XDSCAKey, Path: XDSCAKey}},
			}},
		},
	}}}
}

// captureInit builds the `ambassador init` container, exactly as
// deploy/manifests/example/transparent has it: root with only NET_ADMIN,
// exempting the ambassador's identity, redirecting to its door.
func captureInit(s settings) corev1.Container {
	id := strconv.Itoa(ProxyUser)
	args := []string{"init", capture.FlagProxyUID, id, capture.FlagProxyGID, id,
		capture.FlagCapturePort, strconv.Itoa(capture.DefaultCapturePort)}
	if s.exclude != "" {
		args = append(args, capture.FlagExcludePorts, s.exclude)
	}
	return corev1.Container{
		Name:  CaptureName,
		Image: s.image,
		Args:  args,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: ptr(int64(0)), RunAsGroup: ptr(int64(0)), RunAsNonRoot: ptr(false),
			ReadOnlyRootFilesystem: ptr(true), AllowPrivilegeEscalation: ptr(false),
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_ADMIN"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func probe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(AdminPortName)}},
		PeriodSeconds:    period,
		FailureThreshold: failures,
	}
}

func ptr[T any](v T) *T { return &v }
