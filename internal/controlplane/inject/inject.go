// Package inject adds the meshlite ambassador to pod templates that ask for
// it (label or annotation meshlite.io/inject: enabled), or to every
// template of a namespace that asks (Scope), unless the template says
// meshlite.io/inject: disabled. The mutation is
// computed once, as JSON Patch operations on the template; the webhook
// returns them for a Pod, and `controlplane inject` applies them to YAML.
//
// What a template gets: the ambassador as a native sidecar (an init
// container with restartPolicy: Always) with probes, resources and a
// restrictive security context, running as 1337:1337; with
// meshlite.io/capture: transparent the `ambassador init` capture before it,
// otherwise proxy variables on every app container; the sysctl that lets
// the ambassador open local mapping doors below 1024; Prometheus scrape
// annotations when the template has none; with Options.XDSCAConfigMap, the
// xDS identity (a projected volume with a ServiceAccount token for the
// control plane and its CA); the label meshlite.io/ambassador: injected,
// which the control plane's NetworkPolicy admits to xDS; and the Injected
// marker, which makes injecting twice a no-op.
package inject

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultControlPlane is the control plane's xDS address as the manifests
// deploy it (Service meshlite-controlplane in meshlite-system).
const DefaultControlPlane = "meshlite-controlplane.meshlite-system:18000"

// DefaultImageRepository is where the ambassador image is published.
const DefaultImageRepository = "ghcr.io/meshlite/ambassador"

// Options configure an Injector.
type Options struct {
	// Image is the ambassador image (also used for the capture); "" means
	// DefaultImageRepository tagged with Version.
	Image string
	// ControlPlane is the ambassador's --xds address; "" means
	// DefaultControlPlane.
	ControlPlane string
	// Version is the Injected marker's value; "" means "dev".
	Version string
	// XDSCAConfigMap names a ConfigMap in the pod's namespace whose key
	// ca.crt (XDSCAKey) is the CA of the control plane's xDS certificate.
	// Set, the ambassador gets --xds-ca and --xds-token from a projected
	// volume (that ConfigMap and a ServiceAccount token for audience
	// meshlite); the pod does not start until the ConfigMap exists. ""
	// means plaintext xDS: no CA, no token.
	XDSCAConfigMap string
}

// Scope says whether a template's namespace asks for injection.
type Scope int

const (
	// TemplateAsks injects a template only if it asks itself (label or
	// annotation meshlite.io/inject: enabled).
	TemplateAsks Scope = iota
	// NamespaceAsks injects every template unless it says
	// meshlite.io/inject: disabled: its namespace is labelled
	// meshlite.io/inject=enabled.
	NamespaceAsks
)

// Injector computes the mutation. It is safe for concurrent use.
type Injector struct {
	opts Options
}

// New checks the options and returns an Injector.
func New(opts Options) (*Injector, error) {
	if opts.ControlPlane == "" {
		opts.ControlPlane = DefaultControlPlane
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Image == "" {
		opts.Image = DefaultImageRepository + ":" + opts.Version
	}
	if !imageRef.MatchString(opts.Image) {
		return nil, fmt.Errorf("inject: ambassador image %q is not an image reference", opts.Image)
	}
	if cm := opts.XDSCAConfigMap; cm != "" {
		if msgs := validation.IsDNS1123Subdomain(cm); len(msgs) > 0 {
			return nil, fmt.Errorf("inject: xDS CA ConfigMap %q is not a ConfigMap name: %s", cm, strings.Join(msgs, "; "))
		}
	}
	return &Injector{opts: opts}, nil
}

// Error is a template that asks for injection but cannot get it: a bad
// annotation, or a pod the ambassador cannot protect. Object names it.
type Error struct {
	Object string
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("inject: %s: %v", e.Object, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Template returns the operations that inject the ambassador into the pod
// template whose metadata is at prefix+"/metadata" and spec at
// prefix+"/spec" (prefix "" for a Pod). It returns nil when the template
// does not ask (scope says whether its namespace asks for it) or was
// injected already. object names the template in errors, e.g.
// "Deployment shop/web".
func (in *Injector) Template(object, prefix string, meta metav1.ObjectMeta, spec corev1.PodSpec, scope Scope) ([]Op, error) {
	ask, err := asks(meta, scope)
	if err != nil {
		return nil, &Error{object, err}
	}
	if !ask || Done(meta, spec) {
		return nil, nil
	}
	s, err := parseSettings(meta, in.opts.Image)
	s.xdsCA = in.opts.XDSCAConfigMap
	if err == nil {
		err = checkPod(spec, s)
	}
	if err != nil && scope == NamespaceAsks {
		err = fmt.Errorf("%w (the namespace is labelled %s=%s: fix the pod, or label it %s=%s to leave it without the ambassador)",
			err, Inject, Enabled, Inject, Disabled)
	}
	if err != nil {
		return nil, &Error{object, err}
	}
	b := &builder{prefix: prefix}
	b.annotations(meta, in.opts.Version)
	b.label(meta)
	b.sysctl(spec)
	if !s.transparent {
		b.proxyEnv(spec) // before the init containers move: its paths use the original indexes
	}
	b.initContainers(spec, s, in.opts.ControlPlane)
	if s.xdsCA != "" {
		b.volume(spec, xdsVolume(s.xdsCA))
	}
	if b.err != nil {
		return nil, &Error{object, b.err}
	}
	return b.ops, nil
}

// Done reports whether a template was injected already: it has the marker,
// or a container with the ambassador's name (hand-written sidecars too).
func Done(meta metav1.ObjectMeta, spec corev1.PodSpec) bool {
	if _, ok := meta.Annotations[Injected]; ok {
		return true
	}
	named := func(c corev1.Container) bool { return c.Name == AmbassadorName }
	return slices.ContainsFunc(spec.InitContainers, named) || slices.ContainsFunc(spec.Containers, named)
}

// checkPod refuses pods the ambassador cannot sit in safely.
func checkPod(spec corev1.PodSpec, s settings) error {
	transparent := s.transparent
	var errs []error
	if spec.HostNetwork {
		errs = append(errs, errors.New("hostNetwork: true: the ambassador would listen on, and the capture rewrite, the node's network"))
	}
	if s.xdsCA != "" && slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == XDSVolume }) {
		errs = append(errs, fmt.Errorf("volume %q exists: the ambassador's xDS identity volume needs that name", XDSVolume))
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		if c.Name == CaptureName && transparent {
			errs = append(errs, fmt.Errorf("container %q exists: the capture init container needs that name", c.Name))
		}
		for _, p := range c.Ports {
			if p.ContainerPort == AdminPort || p.Name == AdminPortName {
				errs = append(errs, fmt.Errorf("container %q declares port %d/%s, which the ambassador's admin listener uses", c.Name, p.ContainerPort, p.Name))
			}
		}
		if transparent {
			if err := checkIdentity(spec.SecurityContext, c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// checkIdentity: with the capture, an app container running as the
// ambassador's user or group would go around it.
func checkIdentity(pod *corev1.PodSecurityContext, c corev1.Container) error {
	var uid, gid *int64
	if pod != nil {
		uid, gid = pod.RunAsUser, pod.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	if uid != nil && *uid == ProxyUser || gid != nil && *gid == ProxyUser {
		return fmt.Errorf("container %q runs as user or group %d, which the transparent capture exempts: its connections would go around the ambassador (run it as another user)", c.Name, ProxyUser)
	}
	return nil
}

// builder collects operations; the first error sticks.
type builder struct {
	prefix string
	ops    []Op
	err    error
}

func (b *builder) add(path string, v any) {
	if b.err != nil {
		return
	}
	op, err := add(b.prefix+path, v)
	b.ops, b.err = append(b.ops, op), err
}

// annotations adds the marker, and the scrape annotations when the
// template has none of its own.
func (b *builder) annotations(meta metav1.ObjectMeta, version string) {
	add := map[string]string{Injected: version}
	if _, ok := meta.Annotations["prometheus.io/scrape"]; !ok {
		add["prometheus.io/scrape"] = "true"
		add["prometheus.io/port"] = strconv.Itoa(AdminPort)
		add["prometheus.io/path"] = "/metrics"
	}
	if meta.Annotations == nil {
		b.add("/metadata/annotations", add)
		return
	}
	for _, k := range sortedKeys(add) {
		b.add("/metadata/annotations/"+escape(k), add[k])
	}
}

// label marks the pod as running an ambassador (AmbassadorLabel), which
// the control plane's NetworkPolicy admits to xDS from any namespace.
func (b *builder) label(meta metav1.ObjectMeta) {
	if meta.Labels == nil {
		b.add("/metadata/labels", map[string]string{AmbassadorLabel: AmbassadorInjected})
		return
	}
	b.add("/metadata/labels/"+escape(AmbassadorLabel), AmbassadorInjected)
}

// sysctl lets unprivileged processes bind every port, unless the template
// sets the sysctl itself.
func (b *builder) sysctl(spec corev1.PodSpec) {
	s := corev1.Sysctl{Name: LowPortsSysctl, Value: "0"}
	switch sc := spec.SecurityContext; {
	case sc == nil:
		b.add("/spec/securityContext", corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{s}})
	case slices.ContainsFunc(sc.Sysctls, func(x corev1.Sysctl) bool { return x.Name == s.Name }):
	case sc.Sysctls == nil:
		b.add("/spec/securityContext/sysctls", []corev1.Sysctl{s})
	default:
		b.add("/spec/securityContext/sysctls/-", s)
	}
}

// initContainers puts the capture (transparent) and the ambassador before
// every other init container: nothing of the app starts uncaptured or
// before its proxy.
func (b *builder) initContainers(spec corev1.PodSpec, s settings, controlPlane string) {
	add := []corev1.Container{ambassador(s, controlPlane)}
	if s.transparent {
		add = []corev1.Container{captureInit(s), add[0]}
	}
	if spec.InitContainers == nil {
		b.add("/spec/initContainers", add)
		return
	}
	for i, c := range add {
		b.add("/spec/initContainers/"+strconv.Itoa(i), c)
	}
}

// volume adds a pod volume.
func (b *builder) volume(spec corev1.PodSpec, v corev1.Volume) {
	if spec.Volumes == nil {
		b.add("/spec/volumes", []corev1.Volume{v})
		return
	}
	b.add("/spec/volumes/-", v)
}

// proxyEnv points every app container, init containers included, at the
// forward-proxy door; a variable a container sets itself is kept.
func (b *builder) proxyEnv(spec corev1.PodSpec) {
	for _, list := range []struct {
		kind string
		cs   []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i, c := range list.cs {
			path := fmt.Sprintf("/spec/%s/%d/env", list.kind, i)
			var add []corev1.EnvVar
			for _, e := range proxyEnv() {
				if !slices.ContainsFunc(c.Env, func(x corev1.EnvVar) bool { return x.Name == e.Name }) {
					add = append(add, e)
				}
			}
			switch {
			case len(add) == 0:
			case c.Env == nil:
				b.add(path, add)
			default:
				for _, e := range add {
					b.add(path+"/-", e)
				}
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
