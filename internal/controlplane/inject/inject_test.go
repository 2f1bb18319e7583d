package inject

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlite/meshlite/internal/deploytest"
)

const testImage = "ghcr.io/meshlite/ambassador:test"

func newInjector(t *testing.T) *Injector {
	t.Helper()
	in, err := New(Options{Image: testImage, Version: "v-test"})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// deployment is a minimal Deployment whose template carries annotations.
func deployment(name string, annotations map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  namespace: shop\nspec:\n  template:\n    metadata:\n      labels:\n        app: %s\n", name, name)
	if len(annotations) > 0 {
		b.WriteString("      annotations:\n")
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range annotations {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&b, "        %s: %q\n", k, annotations[k])
		}
	}
	b.WriteString("    spec:\n      containers:\n        - name: app\n          image: example/app:1\n")
	return b.String()
}

// decode parses one injected document as the manifest tests read it.
func decode(t *testing.T, out []byte) (deploytest.Object, deploytest.Deployment) {
	t.Helper()
	objs, err := deploytest.ParseObjects("injected", out)
	if err != nil || len(objs) != 1 {
		t.Fatalf("parse injected output: %d objects, %v\n%s", len(objs), err, out)
	}
	var d deploytest.Deployment
	if err := objs[0].Decode(&d); err != nil {
		t.Fatal(err)
	}
	return objs[0], d
}

func sidecar(t *testing.T, ps deploytest.PodSpec) deploytest.Container {
	t.Helper()
	i := slices.IndexFunc(ps.InitContainers, func(c deploytest.Container) bool { return c.Name == AmbassadorName })
	if i < 0 {
		t.Fatalf("no %s init container in %+v", AmbassadorName, ps.InitContainers)
	}
	return ps.InitContainers[i]
}

func TestTemplateOverrides(t *testing.T) {
	in := newInjector(t)
	tests := []struct {
		name        string
		annotations map[string]string
		check       func(t *testing.T, ps deploytest.PodSpec)
	}{
		{"defaults", map[string]string{Inject: Enabled}, func(t *testing.T, ps deploytest.PodSpec) {
			c := sidecar(t, ps)
			want := []string{"--xds", DefaultControlPlane, "--workload", "web", "--namespace", "$(POD_NAMESPACE)", "--admin", ":9901", "--listen", ForwardProxy}
			if c.Image != testImage || !slices.Equal(c.Args, want) {
				t.Errorf("image %q args %q, want %q %q", c.Image, c.Args, testImage, want)
			}
			if r := c.Resources; r.Requests["cpu"] != DefaultCPU || r.Requests["memory"] != DefaultMemory || r.Limits["memory"] != DefaultMemoryLimit || r.Limits["cpu"] != "" {
				t.Errorf("resources %+v", r)
			}
		}},
		{"workload annotation wins over the app label", map[string]string{Inject: Enabled, Workload: "shop-web"}, func(t *testing.T, ps deploytest.PodSpec) {
			if args := sidecar(t, ps).Args; args[3] != "shop-web" {
				t.Errorf("args %q, want --workload shop-web", args)
			}
		}},
		{"image", map[string]string{Inject: Enabled, Image: "registry.example/amb:v2@sha256:" + strings.Repeat("a", 64)}, func(t *testing.T, ps deploytest.PodSpec) {
			if img := sidecar(t, ps).Image; !strings.HasPrefix(img, "registry.example/amb:v2@") {
				t.Errorf("image %q", img)
			}
		}},
		{"resources", map[string]string{Inject: Enabled, CPU: "200m", CPULimit: "1", Memory: "64Mi", MemoryLimit: "1Gi"}, func(t *testing.T, ps deploytest.PodSpec) {
			r := sidecar(t, ps).Resources
			if r.Requests["cpu"] != "200m" || r.Limits["cpu"] != "1" || r.Requests["memory"] != "64Mi" || r.Limits["memory"] != "1Gi" {
				t.Errorf("resources %+v", r)
			}
		}},
		{"transparent with excluded ports", map[string]string{Inject: Enabled, Capture: CaptureTPRT, ExcludePorts: "5432,6379"}, func(t *testing.T, ps deploytest.PodSpec) {
			c := ps.InitContainers[0]
			if c.Name != CaptureName || !slices.Contains(c.Args, "--exclude-ports") || c.Args[len(c.Args)-1] != "5432,6379" {
				t.Errorf("capture container %s args %q", c.Name, c.Args)
			}
			if fs, err := deploytest.ParseArgs(deploytest.Ambassador, c.Args); err != nil || fs.Lookup("exclude-ports").Value.String() != "[5432,6379]" {
				t.Errorf("capture args do not parse as ambassador init's: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := in.Documents([]byte(deployment("web", tt.annotations)))
			if err != nil {
				t.Fatal(err)
			}
			_, d := decode(t, out)
			tt.check(t, d.Spec.Template.Spec)
		})
	}
}

func TestBadAnnotations(t *testing.T) {
	in := newInjector(t)
	tests := []struct {
		name        string
		annotations map[string]string
		noApp       bool
		want        string
	}{
		{"inject value", map[string]string{Inject: "true"}, false, `annotation meshlite.io/inject: "true" is not a value (use enabled or disabled)`},
		{"no workload", map[string]string{Inject: Enabled}, true, "no workload name: set annotation meshlite.io/workload or label app"},
		{"workload not a name", map[string]string{Inject: Enabled, Workload: "Shop_Web"}, false, `annotation meshlite.io/workload: "Shop_Web" is not a RouteTable name`},
		{"capture mode", map[string]string{Inject: Enabled, Capture: "iptables"}, false, `annotation meshlite.io/capture: "iptables" is not a mode (use env or transparent)`},
		{"image", map[string]string{Inject: Enabled, Image: "ghcr.io/x; rm -rf /"}, false, "annotation meshlite.io/image: "},
		{"cpu", map[string]string{Inject: Enabled, CPU: "lots"}, false, `annotation meshlite.io/cpu: "lots" is not a positive quantity`},
		{"negative memory", map[string]string{Inject: Enabled, Memory: "-1Mi"}, false, `annotation meshlite.io/memory: "-1Mi" is not a positive quantity`},
		{"request above limit", map[string]string{Inject: Enabled, Memory: "256Mi"}, false, "annotation meshlite.io/memory: 256Mi is more than meshlite.io/memory-limit 128Mi"},
		{"no memory limit", map[string]string{Inject: Enabled, MemoryLimit: ""}, false, "annotation meshlite.io/memory-limit: empty"},
		{"exclude ports without the capture", map[string]string{Inject: Enabled, ExcludePorts: "5432"}, false, "annotation meshlite.io/exclude-ports: applies to meshlite.io/capture: transparent only"},
		{"setting as a label", map[string]string{Inject: Enabled}, false, "label meshlite.io/capture: it is read from annotations only"},
		{"exclude port zero", map[string]string{Inject: Enabled, Capture: CaptureTPRT, ExcludePorts: "5432,0"}, false, `annotation meshlite.io/exclude-ports: "5432,0": `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := deployment("web", tt.annotations)
			if tt.noApp {
				doc = strings.Replace(doc, "      labels:\n        app: web\n", "", 1)
			}
			if tt.name == "setting as a label" {
				doc = strings.Replace(doc, "        app: web\n", "        app: web\n        meshlite.io/capture: transparent\n", 1)
			}
			stream := "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n" + doc
			out, err := in.Documents([]byte(stream))
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			if out != nil {
				t.Errorf("output on error:\n%s", out)
			}
			if want := "document 1: inject: Deployment shop/web: "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestPodsTheAmbassadorCannotProtect(t *testing.T) {
	in := newInjector(t)
	tests := []struct {
		name, spec, annotations, want string
	}{
		{"host network", "hostNetwork: true\n", "", "hostNetwork: true"},
		{"admin port taken", "containers: [{name: app, image: a, ports: [{containerPort: 9901}]}]\n", "", `container "app" declares port 9901`},
		{"app runs as the proxy user", "containers: [{name: app, image: a, securityContext: {runAsUser: 1337}}]\n", "meshlite.io/capture: transparent\n", "runs as user or group 1337"},
		{"pod runs as the proxy group", "securityContext: {runAsGroup: 1337}\ncontainers: [{name: app, image: a}]\n", "meshlite.io/capture: transparent\n", "runs as user or group 1337"},
		{"capture name taken", "containers: [{name: capture, image: a}]\n", "meshlite.io/capture: transparent\n", `container "capture" exists`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {app: web, meshlite.io/inject: enabled}\n"
			if tt.annotations != "" {
				doc += "  annotations:\n    " + tt.annotations
			}
			doc += "spec:\n" + indent(tt.spec, "  ")
			if !strings.Contains(tt.spec, "containers:") {
				doc += "  containers: [{name: app, image: a}]\n"
			}
			_, err := in.Documents([]byte(doc))
			if err == nil || !strings.Contains(err.Error(), "document 0: inject: Pod p: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming document 0, Pod p and containing %q", err, tt.want)
			}
		})
	}
}

func indent(s, by string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + l
		}
	}
	return strings.Join(lines, "")
}

func TestEnvCapture(t *testing.T) {
	in := newInjector(t)
	doc := `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations: {meshlite.io/inject: enabled, prometheus.io/scrape: "false"}
  labels: {app: web}
spec:
  securityContext:
    sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "1000"}]
  initContainers:
    - name: migrate
      image: example/migrate:1
  containers:
    - name: app
      image: example/app:1
      env: [{name: https_proxy, value: http://own-proxy:3128}]
    - name: helper
      image: example/helper:1
`
	out, err := in.Documents([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var pod struct {
		Metadata deploytest.Meta
		Spec     deploytest.PodSpec
	}
	objs, err := deploytest.ParseObjects("out", out)
	if err != nil {
		t.Fatal(err)
	}
	if err := objs[0].Decode(&pod); err != nil {
		t.Fatal(err)
	}
	ps := pod.Spec
	if names := containerNames(ps.InitContainers); !slices.Equal(names, []string{AmbassadorName, "migrate"}) {
		t.Errorf("init containers %q, want the ambassador first, then the app's", names)
	}
	for _, c := range append(ps.Containers, ps.InitContainers[1]) {
		env := map[string]string{}
		for _, e := range c.Env {
			if _, dup := env[e.Name]; dup {
				t.Errorf("%s: %s set twice", c.Name, e.Name)
			}
			env[e.Name] = e.Value
		}
		wantHTTPS := "http://" + ForwardProxy
		if c.Name == "app" {
			wantHTTPS = "http://own-proxy:3128" // the app's own setting is kept
		}
		if env["http_proxy"] != "http://"+ForwardProxy || env["HTTP_PROXY"] != "http://"+ForwardProxy || env["https_proxy"] != wantHTTPS ||
			env["no_proxy"] != "localhost,127.0.0.1,::1" {
			t.Errorf("%s env %v", c.Name, env)
		}
	}
	if s := ps.SecurityContext.Sysctls; len(s) != 1 || s[0].Value != "1000" {
		t.Errorf("sysctls %v: the template's own value must be kept", s)
	}
	if a := pod.Metadata.Annotations; a["prometheus.io/scrape"] != "false" || a["prometheus.io/port"] != "" || a[Injected] != "v-test" {
		t.Errorf("annotations %v: the template's scrape setting kept, the marker added", a)
	}
}

func containerNames(cs []deploytest.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func TestEveryWorkloadKind(t *testing.T) {
	in := newInjector(t)
	const tmpl = "metadata:\n  labels: {app: web, meshlite.io/inject: enabled}\nspec:\n  containers: [{name: app, image: a}]\n"
	tests := []struct {
		kind, apiVersion, head string
		path                   []string // to the template
	}{
		{"Pod", "v1", "", nil},
		{"Deployment", "apps/v1", "spec:\n  template:\n", []string{"spec", "template"}},
		{"StatefulSet", "apps/v1", "spec:\n  template:\n", []string{"spec", "template"}},
		{"DaemonSet", "apps/v1", "spec:\n  template:\n", []string{"spec", "template"}},
		{"ReplicaSet", "apps/v1", "spec:\n  template:\n", []string{"spec", "template"}},
		{"Job", "batch/v1", "spec:\n  template:\n", []string{"spec", "template"}},
		{"CronJob", "batch/v1", "spec:\n  schedule: '@hourly'\n  jobTemplate:\n    spec:\n      template:\n", []string{"spec", "jobTemplate", "spec", "template"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			doc := fmt.Sprintf("apiVersion: %s\nkind: %s\n", tt.apiVersion, tt.kind)
			if tt.kind == "Pod" {
				doc += "metadata:\n  name: w\n  labels: {app: web, meshlite.io/inject: enabled}\nspec:\n  containers: [{name: app, image: a}]\n"
			} else {
				doc += "metadata:\n  name: w\n" + tt.head + indent(tmpl, strings.Repeat("  ", len(tt.path)))
			}
			out, err := in.Documents([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			objs, err := deploytest.ParseObjects("out", out)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := objs[0].Decode(&obj); err != nil {
				t.Fatal(err)
			}
			node := obj
			for _, p := range tt.path {
				node = node[p].(map[string]any)
			}
			inits, _ := node["spec"].(map[string]any)["initContainers"].([]any)
			if len(inits) != 1 || inits[0].(map[string]any)["name"] != AmbassadorName {
				t.Errorf("%s: init containers %v, want the ambassador\n%s", tt.kind, inits, out)
			}
			if again, err := in.Documents(out); err != nil || !bytes.Equal(again, out) {
				t.Errorf("%s: injecting twice changed it (err %v)", tt.kind, err)
			}
		})
	}
}

func TestNotAskingOrOtherKinds(t *testing.T) {
	in := newInjector(t)
	for _, doc := range []string{
		deployment("web", nil),
		deployment("web", map[string]string{Inject: Disabled}),
		// a template that asks, inside a kind injection does not know
		strings.Replace(deployment("web", map[string]string{Inject: Enabled}), "apiVersion: apps/v1", "apiVersion: example.com/v1", 1),
	} {
		out, err := in.Documents([]byte(doc))
		if err != nil || string(out) != doc {
			t.Errorf("changed (err %v):\n%s\nto\n%s", err, doc, out)
		}
	}
}

// The ambassador label is added whether the template has labels or not,
// and replaces a value the template set itself.
func TestAmbassadorLabel(t *testing.T) {
	asks := map[string]string{Inject: Enabled, Workload: "web"}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}}
	tests := []struct {
		name   string
		labels map[string]string
		path   string
		value  string
	}{
		{"no labels", nil, "/metadata/labels", `{"meshlite.io/ambassador":"injected"}`},
		{"other labels", map[string]string{"app": "web"}, "/metadata/labels/meshlite.io~1ambassador", `"injected"`},
		{"its own value", map[string]string{AmbassadorLabel: "sidecar"}, "/metadata/labels/meshlite.io~1ambassador", `"injected"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := metav1.ObjectMeta{Name: "web", Labels: tt.labels, Annotations: asks}
			ops, err := newInjector(t).Template("Pod shop/web", "", meta, spec, TemplateAsks)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(ops, func(op Op) bool { return op.Path == tt.path })
			if i < 0 {
				t.Fatalf("no op at %s in %+v", tt.path, ops)
			}
			if got := string(ops[i].Value); got != tt.value {
				t.Errorf("%s = %s, want %s", tt.path, got, tt.value)
			}
		})
	}
}
