package inject

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
)

// The labels and annotations of a pod template that injection reads, and
// the two it writes (Injected and AmbassadorLabel).
const (
	// Inject asks for injection, as a label or an annotation: "enabled"
	// (inject) or "disabled" (never inject, whatever else asks).
	Inject = "meshlite.io/inject"
	// Workload names the RouteTable the ambassador subscribes to; default:
	// the pod's app label.
	Workload = "meshlite.io/workload"
	// Capture is "env" (default: proxy variables on the app containers) or
	// "transparent" (the ambassador init capture).
	Capture = "meshlite.io/capture"
	// Image overrides the ambassador image (and the capture's).
	Image = "meshlite.io/image"
	// CPU and Memory are the ambassador's requests; CPULimit and
	// MemoryLimit its limits (default: no CPU limit, 128Mi of memory).
	CPU         = "meshlite.io/cpu"
	CPULimit    = "meshlite.io/cpu-limit"
	Memory      = "meshlite.io/memory"
	MemoryLimit = "meshlite.io/memory-limit"
	// ExcludePorts are TCP destination ports the transparent capture never
	// redirects (ambassador init --exclude-ports), comma-separated.
	ExcludePorts = "meshlite.io/exclude-ports"
	// Injected marks an injected template; its value is the injector's
	// version. A template that has it is left alone.
	Injected = "meshlite.io/injected"
	// AmbassadorLabel marks a pod that runs an ambassador, so that a
	// NetworkPolicy can let it reach the control plane's xDS port from any
	// namespace. Injection sets it to AmbassadorInjected; hand-written
	// sidecars set it themselves.
	AmbassadorLabel    = "meshlite.io/ambassador"
	AmbassadorInjected = "injected"
)

// Values of Inject and Capture.
const (
	Enabled     = "enabled"
	Disabled    = "disabled"
	CaptureEnv  = "env"
	CaptureTPRT = "transparent"
)

// Defaults of the ambassador's resources.
const (
	DefaultCPU         = "50m"
	DefaultMemory      = "32Mi"
	DefaultMemoryLimit = "128Mi"
)

// settings are a template's injection settings, validated.
type settings struct {
	workload    string
	transparent bool
	image       string
	cpu, cpuMax resource.Quantity // cpuMax zero: no CPU limit
	mem, memMax resource.Quantity
	exclude     string // the --exclude-ports value, "" for none
	xdsCA       string // Options.XDSCAConfigMap: "" for plaintext xDS
}

// asks reports whether the template asks for injection, or, with
// NamespaceAsks, does not refuse it; an Inject value other than enabled or
// disabled, or a label and annotation that disagree, is an error.
func asks(meta metav1.ObjectMeta, scope Scope) (bool, error) {
	label, hasLabel := meta.Labels[Inject]
	ann, hasAnn := meta.Annotations[Inject]
	for _, v := range []struct {
		where, value string
		set          bool
	}{{"label", label, hasLabel}, {"annotation", ann, hasAnn}} {
		if v.set && v.value != Enabled && v.value != Disabled {
			return false, fmt.Errorf("%s %s: %q is not a value (use %s or %s)", v.where, Inject, v.value, Enabled, Disabled)
		}
	}
	if hasLabel && hasAnn && label != ann {
		return false, fmt.Errorf("label %s is %q but the annotation is %q: set one, or both the same", Inject, label, ann)
	}
	if scope == NamespaceAsks {
		return label != Disabled && ann != Disabled, nil
	}
	return label == Enabled || ann == Enabled, nil
}

// parseSettings reads and validates the template's annotations; each
// problem names the annotation (or label) and how to fix it.
func parseSettings(meta metav1.ObjectMeta, defaultImage string) (settings, error) {
	a := meta.Annotations
	s := settings{image: defaultImage}
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("annotation %s: ", key)+fmt.Sprintf(format, args...))
	}
	for _, key := range []string{Workload, Capture, Image, CPU, CPULimit, Memory, MemoryLimit, ExcludePorts, Injected} {
		if _, ok := meta.Labels[key]; ok {
			errs = append(errs, fmt.Sprintf("label %s: it is read from annotations only (move it to metadata.annotations)", key))
		}
	}
	switch w, ok := a[Workload]; {
	case ok:
		s.workload = w
		if msgs := validation.IsDNS1123Label(w); len(msgs) > 0 {
			bad(Workload, "%q is not a RouteTable name: %s", w, strings.Join(msgs, "; "))
		}
	case meta.Labels["app"] != "":
		s.workload = meta.Labels["app"]
		if msgs := validation.IsDNS1123Label(s.workload); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("label app: %q is not a RouteTable name (set annotation %s): %s", s.workload, Workload, strings.Join(msgs, "; ")))
		}
	default:
		errs = append(errs, fmt.Sprintf("no workload name: set annotation %s or label app (the RouteTable's name)", Workload))
	}
	switch c := a[Capture]; c {
	case "", CaptureEnv:
	case CaptureTPRT:
		s.transparent = true
	default:
		bad(Capture, "%q is not a mode (use %s or %s)", c, CaptureEnv, CaptureTPRT)
	}
	if img, ok := a[Image]; ok {
		s.image = img
		if !imageRef.MatchString(img) {
			bad(Image, "%q is not an image reference (for example ghcr.io/meshlite/ambassador:v1.2.3)", img)
		}
	}
	quantity := func(key, def string, q *resource.Quantity) {
		v, ok := a[key]
		if !ok {
			v = def
		}
		if v == "" {
			return
		}
		p, err := resource.ParseQuantity(v)
		if err != nil || p.Sign() <= 0 {
			bad(key, "%q is not a positive quantity (for example 100m for CPU, 64Mi for memory)", v)
			return
		}
		*q = p
	}
	quantity(CPU, DefaultCPU, &s.cpu)
	quantity(CPULimit, "", &s.cpuMax)
	quantity(Memory, DefaultMemory, &s.mem)
	quantity(MemoryLimit, DefaultMemoryLimit, &s.memMax)
	if v, ok := a[MemoryLimit]; ok && v == "" {
		bad(MemoryLimit, "empty: the ambassador always has a memory limit (GOMEMLIMIT is derived from it)")
	}
	if !s.cpuMax.IsZero() && !s.cpu.IsZero() && s.cpu.Cmp(s.cpuMax) > 0 {
		bad(CPU, "%s is more than %s %s", s.cpu.String(), CPULimit, s.cpuMax.String())
	}
	if !s.memMax.IsZero() && !s.mem.IsZero() && s.mem.Cmp(s.memMax) > 0 {
		bad(Memory, "%s is more than %s %s (default %s)", s.mem.String(), MemoryLimit, s.memMax.String(), DefaultMemoryLimit)
	}
	if v, ok := a[ExcludePorts]; ok {
		ports, err := capture.ParsePorts(strings.Split(v, ","))
		if err == nil { // the range checks of ambassador init itself
			err = capture.Options{ProxyUID: ProxyUser, ProxyGID: ProxyUser, CapturePort: capture.DefaultCapturePort, ExcludePorts: ports}.Validate()
		}
		switch {
		case !s.transparent:
			bad(ExcludePorts, "applies to %s: %s only (without the capture nothing is redirected)", Capture, CaptureTPRT)
		case err != nil:
			bad(ExcludePorts, "%q: %v (comma-separated ports, for example 5432,6379)", v, err)
		default:
			s.exclude = v
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return settings{}, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return s, nil
}

// imageRef is a loose image reference: registry/path[:tag][@digest], no
// spaces or shell characters.
var imageRef = regexp.MustCompile(`^[a-z0-9]([A-Za-z0-9._/:-]*[A-Za-z0-9])?(@sha256:[a-f0-9]{64})?$`)
