package inject

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshlite/meshlite/internal/deploytest"
)

const manifestsDir = "../../../deploy/manifests"

// withoutMesh returns the hand-written Deployment in file with meshlite
// taken out (the ambassador, the capture, the bootstrap volume, the scrape
// annotations and the low-ports sysctl) and asking for injection instead.
func withoutMesh(t *testing.T, file string, annotations map[string]string) []byte {
	t.Helper()
	objs, err := deploytest.ReadObjects(file)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(objs, func(o deploytest.Object) bool { return o.Kind == "Deployment" })
	if i < 0 {
		t.Fatalf("%s: no Deployment", file)
	}
	var d map[string]any
	if err := objs[i].Decode(&d); err != nil {
		t.Fatal(err)
	}
	tmpl := d["spec"].(map[string]any)["template"].(map[string]any)
	meta := tmpl["metadata"].(map[string]any)
	meta["annotations"] = annotations
	delete(meta["labels"].(map[string]any), AmbassadorLabel)
	spec := tmpl["spec"].(map[string]any)
	delete(spec, "initContainers")
	delete(spec, "volumes")
	delete(spec["securityContext"].(map[string]any), "sysctls")
	out, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), deploytest.ImageRepository+deploytest.Ambassador) || strings.Contains(string(out), "prometheus.io") ||
		strings.Contains(string(out), AmbassadorLabel) {
		t.Fatalf("meshlite is still in the stripped pod:\n%s", out)
	}
	return out
}

// The pods injection makes pass every check the manifest tests apply to the
// hand-written ambassador pods (internal/deploytest).
func TestInjectedPodsPassTheManifestChecks(t *testing.T) {
	tree, err := deploytest.Load(manifestsDir)
	if err != nil {
		t.Fatal(err)
	}
	checkControlPlaneAddress(t, tree)
	tests := []struct {
		name, file  string
		annotations map[string]string
		transparent bool
		caConfigMap string // Options.XDSCAConfigMap
	}{
		{"env capture", manifestsDir + "/example/numbers-web.yaml", map[string]string{Inject: Enabled}, false, ""},
		{"env capture with xDS identity", manifestsDir + "/example/numbers-web.yaml", map[string]string{Inject: Enabled}, false, "meshlite-xds-ca"},
		{"transparent capture", manifestsDir + "/example/transparent/numbers-web-transparent.yaml",
			map[string]string{Inject: Enabled, Capture: CaptureTPRT, ExcludePorts: "5432"}, true, ""},
		{"transparent capture with xDS identity", manifestsDir + "/example/transparent/numbers-web-transparent.yaml",
			map[string]string{Inject: Enabled, Capture: CaptureTPRT}, true, "meshlite-xds-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := New(Options{Image: deploytest.ImageRepository + deploytest.Ambassador + ":dev", XDSCAConfigMap: tt.caConfigMap})
			if err != nil {
				t.Fatal(err)
			}
			out, err := in.Documents(withoutMesh(t, tt.file, tt.annotations))
			if err != nil {
				t.Fatal(err)
			}
			obj, d := decode(t, out)
			problems := podProblems(d, tt.transparent)
			for _, p := range problems {
				t.Errorf("%s: %s", obj, p)
			}
			if len(problems) > 0 {
				t.Logf("injected:\n%s", out)
			}
		})
	}
}

// Where the control plane's NetworkPolicy is enforced, a pod injected in a
// namespace without meshlite.io/inject=enabled (it asked itself) can reach
// xDS; the same pod not injected cannot.
func TestInjectedPodsReachXDS(t *testing.T) {
	tree, err := deploytest.Load(manifestsDir)
	if err != nil {
		t.Fatal(err)
	}
	stripped := withoutMesh(t, manifestsDir+"/example/numbers-web.yaml", map[string]string{Inject: Enabled})
	out, err := newInjector(t).Documents(stripped)
	if err != nil {
		t.Fatal(err)
	}
	_, injected := decode(t, out)
	_, plain := decode(t, stripped)
	for _, tt := range []struct {
		name string
		d    deploytest.Deployment
		want bool
	}{{"injected", injected, true}, {"not injected", plain, false}} {
		client := deploytest.Client{Namespace: "shop", Labels: tt.d.Spec.Template.Metadata.Labels}
		if ok, err := deploytest.XDSAdmits(tree, client); ok != tt.want || err != nil {
			t.Errorf("%s pod with labels %v: admitted to xDS %v (err %v), want %v", tt.name, client.Labels, ok, err, tt.want)
		}
	}
	if got := injected.Spec.Template.Metadata.Labels[AmbassadorLabel]; got != AmbassadorInjected {
		t.Errorf("injected label %s = %q, want %q", AmbassadorLabel, got, AmbassadorInjected)
	}
}

// podProblems applies deploytest's checks to an injected Deployment's pod.
func podProblems(d deploytest.Deployment, transparent bool) []string {
	ps := d.Spec.Template.Spec
	var out []string
	add := func(prefix string, problems []string) {
		for _, p := range problems {
			out = append(out, prefix+p)
		}
	}
	for _, c := range ps.AllContainers() {
		add(c.Name+": ", deploytest.SecurityProblems(ps.SecurityContext, c))
	}
	if transparent || slices.ContainsFunc(ps.InitContainers, deploytest.IsCapture) {
		add("", deploytest.CaptureProblems(ps))
	}
	n := 0
	for _, c := range ps.AllContainers() {
		if deploytest.Binary(c.Image) != deploytest.Ambassador || deploytest.IsCaptureInit(c.Args) {
			continue
		}
		n++
		add(c.Name+": ", ambassadorProblems(d, c))
	}
	if n != 1 {
		out = append(out, strconv.Itoa(n)+" ambassador containers, want 1")
	}
	return out
}

// ambassadorProblems: the per-container wiring checks of deploytest's
// TestAmbassadorWiring and TestContainerArgsUseDefinedFlags.
func ambassadorProblems(d deploytest.Deployment, c deploytest.Container) []string {
	ps, meta := d.Spec.Template.Spec, d.Spec.Template.Metadata
	fs, err := deploytest.ParseArgs(deploytest.Ambassador, c.Args)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	if err := deploytest.CheckEnv(deploytest.Ambassador, c.Env); err != nil {
		out = append(out, err.Error())
	}
	if len(c.Command) > 0 {
		out = append(out, "command overrides the image's entrypoint")
	}
	if c.RestartPolicy != "Always" || !slices.ContainsFunc(ps.InitContainers, func(x deploytest.Container) bool { return x.Name == c.Name }) {
		out = append(out, "not a native sidecar (an init container with restartPolicy: Always)")
	}
	if w := fs.Lookup("workload").Value.String(); w != meta.Labels["app"] {
		out = append(out, "--workload "+w+" is not the app label "+meta.Labels["app"])
	}
	_, port, _ := net.SplitHostPort(fs.Lookup("admin").Value.String())
	admin, _ := strconv.Atoi(port)
	out = append(out, deploytest.ProbeProblems("startupProbe", c.StartupProbe, "/readyz", c.Ports, admin)...)
	out = append(out, deploytest.ProbeProblems("readinessProbe", c.ReadinessProbe, "/readyz", c.Ports, admin)...)
	out = append(out, deploytest.ProbeProblems("livenessProbe", c.LivenessProbe, "/healthz", c.Ports, admin)...)
	out = append(out, deploytest.ScrapeProblems(meta.Annotations, admin)...)
	out = append(out, deploytest.PodNameProblems(c)...)
	out = append(out, fileFlagProblems(ps, c, fs.Lookup("xds-ca").Value.String(), fs.Lookup("xds-token").Value.String())...)
	if ns := fs.Lookup("namespace").Value.String(); ns != "$(POD_NAMESPACE)" || !slices.ContainsFunc(c.Env, func(e deploytest.EnvVar) bool { return e.Name == "POD_NAMESPACE" }) {
		out = append(out, "--namespace "+ns+": want $(POD_NAMESPACE), from the downward API")
	}
	// a local mapping door on port 80 (http://localhost/api) must be bindable
	if !slices.ContainsFunc(ps.SecurityContext.Sysctls, func(s struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	}) bool {
		return s.Name == LowPortsSysctl && s.Value == "0"
	}) {
		out = append(out, "no sysctl "+LowPortsSysctl+"=0: the non-root ambassador cannot open a door on port 80")
	}
	return out
}

// fileFlagProblems: each file a flag names (skipping empty ones) is under
// a read-only mount, without subPath (rotated files must reach the
// ambassador), of a volume the pod has.
func fileFlagProblems(ps deploytest.PodSpec, c deploytest.Container, files ...string) []string {
	var out []string
	for _, f := range files {
		if f == "" {
			continue
		}
		i := slices.IndexFunc(c.VolumeMounts, func(m deploytest.VolumeMount) bool { return strings.HasPrefix(f, m.MountPath+"/") })
		switch {
		case i < 0:
			out = append(out, f+": under no volume mount")
		case !c.VolumeMounts[i].ReadOnly || c.VolumeMounts[i].SubPath != "":
			out = append(out, f+": its mount is writable or uses subPath")
		case !slices.ContainsFunc(ps.Volumes, func(v deploytest.Volume) bool { return v.Name == c.VolumeMounts[i].Name }):
			out = append(out, f+": volume "+c.VolumeMounts[i].Name+" is not in the pod")
		}
	}
	return out
}

// checkControlPlaneAddress: the default --xds is the control plane's
// Service and port as the manifests deploy them.
func checkControlPlaneAddress(t *testing.T, tree *deploytest.Tree) {
	t.Helper()
	host, port, _ := net.SplitHostPort(DefaultControlPlane)
	name, ns, _ := strings.Cut(host, ".")
	for _, o := range tree.Find("Service") {
		var svc deploytest.Service
		if err := o.Decode(&svc); err != nil {
			t.Fatal(err)
		}
		if o.Name == name && o.Namespace == ns && slices.ContainsFunc(svc.Spec.Ports, func(p deploytest.ServicePort) bool {
			return strconv.Itoa(p.Port) == port
		}) {
			return
		}
	}
	t.Errorf("DefaultControlPlane %s: no Service %s/%s with port %s under %s", DefaultControlPlane, ns, name, port, manifestsDir)
}

// The checks above are not vacuous: a pod with the ambassador's security
// context loosened, its probe gone or the capture misplaced fails them.
func TestManifestChecksCatchABrokenInjection(t *testing.T) {
	in := newInjector(t)
	out, err := in.Documents([]byte(deployment("web", map[string]string{Inject: Enabled, Capture: CaptureTPRT})))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(d *deploytest.Deployment)
		want   string
	}{
		{"as injected", func(*deploytest.Deployment) {}, ""},
		{"ambassador as root", func(d *deploytest.Deployment) {
			d.Spec.Template.Spec.InitContainers[1].SecurityContext.RunAsUser = new(int64)
		}, "runs as 0:1337 but the capture exempts"},
		{"no startup probe", func(d *deploytest.Deployment) { d.Spec.Template.Spec.InitContainers[1].StartupProbe = nil }, "no HTTP startupProbe"},
		{"capture second", func(d *deploytest.Deployment) {
			ic := d.Spec.Template.Spec.InitContainers
			ic[0], ic[1] = ic[1], ic[0]
		}, "not the first init container"},
		{"no scrape annotations", func(d *deploytest.Deployment) { d.Spec.Template.Metadata.Annotations = nil }, "scrape annotations"},
		{"CA outside any mount", func(d *deploytest.Deployment) {
			c := &d.Spec.Template.Spec.InitContainers[1]
			c.Args = append(c.Args, "--xds-ca", "/etc/meshlite/ca.crt")
		}, "/etc/meshlite/ca.crt: under no volume mount"},
		{"no namespace", func(d *deploytest.Deployment) {
			c := &d.Spec.Template.Spec.InitContainers[1]
			i := slices.Index(c.Args, "--namespace")
			c.Args = slices.Delete(c.Args, i, i+2)
		}, "want $(POD_NAMESPACE)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, d := decode(t, out)
			d.Spec.Template.Spec.Containers[0] = compliantApp() // the app is not under test
			tt.mutate(&d)
			joined := strings.Join(podProblems(d, true), "\n")
			if tt.want == "" && joined != "" || !strings.Contains(joined, tt.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", joined, tt.want)
			}
		})
	}
}

// compliantApp is an app container that passes every check by itself.
func compliantApp() deploytest.Container {
	id, yes, no := int64(65532), true, false
	return deploytest.Container{
		Name: "app", Image: "example/app:1",
		Resources: deploytest.Resources{
			Requests: map[string]string{"cpu": "10m", "memory": "16Mi"}, Limits: map[string]string{"memory": "64Mi"},
		},
		SecurityContext: &deploytest.SecurityContext{
			RunAsUser: &id, RunAsGroup: &id, RunAsNonRoot: &yes, ReadOnlyRootFilesystem: &yes, AllowPrivilegeEscalation: &no,
			SeccompProfile: &deploytest.SeccompProfile{Type: "RuntimeDefault"},
			Capabilities: &struct {
				Add  []string `yaml:"add"`
				Drop []string `yaml:"drop"`
			}{Drop: []string{"ALL"}},
		},
	}
}
