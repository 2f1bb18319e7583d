package deploytest

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/meshlite/meshlite/internal/controlplane/source"
)

const (
	manifestsDir = "../../deploy/manifests"
	routesDir    = "../../deploy/routes"
)

func loadTree(t *testing.T) *Tree {
	t.Helper()
	tree, err := Load(manifestsDir)
	if err != nil {
		t.Fatalf("loading %s:\n%v", manifestsDir, err)
	}
	return tree
}

// pod is a Deployment's pod template with where it came from.
type pod struct {
	obj Object
	d   Deployment
}

func (p pod) spec() PodSpec { return p.d.Spec.Template.Spec }

func pods(t *testing.T, tree *Tree) []pod {
	t.Helper()
	var out []pod
	for _, o := range tree.Find("Deployment") {
		var d Deployment
		if err := o.Decode(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, pod{o, d})
	}
	if len(out) == 0 {
		t.Fatal("no Deployment found under " + manifestsDir)
	}
	return out
}

// meshliteContainer is a container running a meshlite binary, with its
// parsed flags.
type meshliteContainer struct {
	pod    pod
	c      Container
	binary string
	flags  *pflag.FlagSet
}

func (m meshliteContainer) flag(t *testing.T, name string) string {
	t.Helper()
	f := m.flags.Lookup(name)
	if f == nil {
		t.Fatalf("%s: no flag --%s", m.binary, name)
	}
	return f.Value.String()
}

func meshliteContainers(t *testing.T, tree *Tree, binary string) []meshliteContainer {
	t.Helper()
	var out []meshliteContainer
	for _, p := range pods(t, tree) {
		for _, c := range p.spec().AllContainers() {
			if Binary(c.Image) != binary || binary == Ambassador && IsCaptureInit(c.Args) {
				continue // the capture init container is checked by TestTransparentPods
			}
			fs, err := ParseArgs(binary, c.Args)
			if err != nil {
				t.Fatalf("%s container %s: %v", p.obj, c.Name, err)
			}
			out = append(out, meshliteContainer{p, c, binary, fs})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no container runs %s%s", ImageRepository, binary)
	}
	return out
}

func TestManifestFilesParseAndAreUsed(t *testing.T) {
	tree := loadTree(t)
	used := map[string]bool{}
	for _, o := range tree.Objects {
		used[filepath.Clean(o.File)] = true
	}
	for _, k := range tree.Kustomizations {
		used[filepath.Clean(kfile(k))] = true
	}
	for _, g := range tree.Generated {
		for _, p := range g.Paths {
			used[filepath.Clean(p)] = true
		}
	}
	n := 0
	err := filepath.WalkDir(manifestsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isYAML(path) {
			return err
		}
		n++
		if filepath.Base(path) == "kustomization.yaml" {
			_, err = ReadKustomization(filepath.Dir(path))
		} else {
			_, err = ReadObjects(path)
		}
		if err != nil {
			t.Error(err)
		}
		if !used[filepath.Clean(path)] {
			t.Errorf("%s: no kustomization lists it (add it to resources or a configMapGenerator, or delete it)", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("found %d YAML files under %s, expected the full set (at least 10)", n, manifestsDir)
	}
}

func isYAML(path string) bool {
	ext := filepath.Ext(path)
	return ext == ".yaml" || ext == ".yml"
}

func TestLoadKustomizations(t *testing.T) {
	const deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
	tests := []struct {
		name   string
		files  map[string]string // path under the temp root → content
		link   [2]string         // optional symlink: name → target
		want   string            // "" = loads
		wantNS string            // with want "": the Deployment's namespace
	}{
		{
			name:  "resource file missing",
			files: map[string]string{"k/kustomization.yaml": "kind: Kustomization\nresources: [gone.yaml]\n"},
			want:  "gone.yaml",
		},
		{
			name: "generator file outside the kustomization directory",
			files: map[string]string{
				"k/kustomization.yaml": "kind: Kustomization\nconfigMapGenerator:\n- name: r\n  files: [../routes/a.yaml]\n",
				"routes/a.yaml":        "a: 1\n",
			},
			want: "kustomize refuses it",
		},
		{
			name: "generator file symlinked from outside",
			files: map[string]string{
				"k/kustomization.yaml": "kind: Kustomization\nconfigMapGenerator:\n- name: r\n  files: [in/a.yaml]\n",
				"routes/a.yaml":        "a: 1\n",
			},
			link: [2]string{"k/in", "../routes"},
			want: "kustomize refuses it",
		},
		{
			name:  "field the model does not know",
			files: map[string]string{"k/kustomization.yaml": "kind: Kustomization\npatches: []\n"},
			want:  "field patches not found",
		},
		{
			name: "document without a kind",
			files: map[string]string{
				"k/kustomization.yaml": "kind: Kustomization\nresources: [d.yaml]\n",
				"k/d.yaml":             deploy + "---\napiVersion: v1\nmetadata: {name: y}\n",
			},
			want: "d.yaml document 1: apiVersion, kind and metadata.name are required",
		},
		{
			name: "an including kustomization's namespace wins",
			files: map[string]string{
				"k/kustomization.yaml":       "kind: Kustomization\nnamespace: outer\nresources: [inner]\n",
				"k/inner/kustomization.yaml": "kind: Kustomization\nnamespace: inner\nresources: [d.yaml]\n",
				"k/inner/d.yaml":             deploy,
			},
			wantNS: "outer",
		},
		{
			name: "two files for one ConfigMap key",
			files: map[string]string{
				"k/kustomization.yaml": "kind: Kustomization\nconfigMapGenerator:\n- name: r\n  files: [a.yaml, x/a.yaml]\n",
				"k/a.yaml":             "a: 1\n", "k/x/a.yaml": "a: 2\n",
			},
			want: `key "a.yaml" twice`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, body := range tt.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.link[0] != "" {
				if err := os.Symlink(tt.link[1], filepath.Join(root, tt.link[0])); err != nil {
					t.Fatal(err)
				}
			}
			tree, err := Load(filepath.Join(root, "k"))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if d := tree.Find("Deployment"); len(d) != 1 || d[0].Namespace != tt.wantNS {
					t.Errorf("Deployments %v, want one in namespace %q", d, tt.wantNS)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// The control plane's ConfigMap carries copies of deploy/routes (kustomize
// reads no file outside its directory); they must not drift.
func TestRoutesCopiesMatchDeployRoutes(t *testing.T) {
	tree := loadTree(t)
	cm := routesConfigMap(t, tree)
	want, err := filepath.Glob(filepath.Join(routesDir, "*.yaml"))
	if err != nil || len(want) == 0 {
		t.Fatalf("no RouteTables in %s (err %v)", routesDir, err)
	}
	for _, src := range want {
		key := filepath.Base(src)
		orig, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := cm.Data[key]
		switch {
		case !ok:
			t.Errorf("%s is not in ConfigMap %s (run scripts/check-manifests.sh --sync and list it in the configMapGenerator)", src, cm.Name)
		case got != string(orig):
			t.Errorf("%s differs from %s (run scripts/check-manifests.sh --sync)", cm.Paths[key], src)
		}
	}
	for key, path := range cm.Paths {
		if _, err := os.Stat(filepath.Join(routesDir, key)); err != nil {
			t.Errorf("%s has no original in %s (add it there, or remove the copy)", path, routesDir)
		}
	}
}

// routesConfigMap is the ConfigMap mounted at the control plane's --routes.
func routesConfigMap(t *testing.T, tree *Tree) GeneratedConfigMap {
	t.Helper()
	m := meshliteContainers(t, tree, ControlPlane)[0]
	vol := mountedConfigMap(t, m, m.flag(t, "routes"))
	cm, ok := tree.ConfigMap(m.pod.obj.Namespace, vol)
	if !ok {
		t.Fatalf("ConfigMap %s/%s (mounted by %s) is not generated by any kustomization", m.pod.obj.Namespace, vol, m.pod.obj)
	}
	return cm
}

// mountedConfigMap returns the ConfigMap volume mounted at exactly dir.
func mountedConfigMap(t *testing.T, m meshliteContainer, dir string) string {
	t.Helper()
	for _, vm := range m.c.VolumeMounts {
		if filepath.Clean(vm.MountPath) != filepath.Clean(dir) {
			continue
		}
		if vm.SubPath != "" {
			t.Errorf("%s: %s mounts %s with subPath: ConfigMap updates never reach a subPath mount", m.pod.obj, m.c.Name, dir)
		}
		for _, v := range m.pod.spec().Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				return v.ConfigMap.Name
			}
		}
		t.Fatalf("%s: volume %q mounted at %s is not a ConfigMap volume", m.pod.obj, vm.Name, dir)
	}
	t.Fatalf("%s: container %s mounts nothing at %s", m.pod.obj, m.c.Name, dir)
	return ""
}

// materialize writes a ConfigMap's data as its volume shows it.
func materialize(t *testing.T, cm GeneratedConfigMap) string {
	t.Helper()
	dir := t.TempDir()
	for key, data := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, key), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestControlPlaneRoutesAreValid(t *testing.T) {
	tree := loadTree(t)
	cm := routesConfigMap(t, tree)
	rep, err := source.ValidateDir(materialize(t, cm))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("ConfigMap %s: %s", cm.Name, p)
	}
	if rep.Tables != len(cm.Data) {
		t.Errorf("ConfigMap %s: %d keys but %d valid tables", cm.Name, len(cm.Data), rep.Tables)
	}
	if cm.HashSuffix {
		t.Errorf("ConfigMap %s: generatorOptions.disableNameSuffixHash must be true, so edits reach the running control plane without a rollout", cm.Name)
	}
}

func TestParseArgsRejectsWhatTheBinariesWould(t *testing.T) {
	tests := []struct {
		name   string
		binary string
		args   []string
		want   string // "" = accepted
	}{
		{"ambassador with its flags", Ambassador, []string{"--xds", "cp:18000", "--workload", "w", "--admin", ":9901"}, ""},
		{"ambassador flag that does not exist", Ambassador, []string{"--listen-port", "1080"}, "unknown flag: --listen-port"},
		{"ambassador duration that is not one", Ambassador, []string{"--dial-timeout", "5"}, "invalid argument"},
		{"ambassador flag without its value", Ambassador, []string{"--routes"}, "flag needs an argument"},
		{"ambassador positional argument", Ambassador, []string{"serve"}, "unexpected positional"},
		{"ambassador transparent door", Ambassador, []string{"--transparent", "127.0.0.1:15001", "--detect-timeout", "500ms"}, ""},
		{"ambassador detect timeout without a unit", Ambassador, []string{"--detect-timeout", "1"}, "invalid argument"},
		{"ambassador capture flag on the proxy", Ambassador, []string{"--capture-port", "15001"}, "unknown flag: --capture-port"},
		{"ambassador init with its flags", Ambassador, []string{"init", "--proxy-uid", "1337", "--proxy-gid", "1337", "--capture-port", "15001",
			"--exclude-ports", "5432,6379", "--exclude-cidrs", "10.0.0.0/8,fd00::/8", "--dns", "10.96.0.10", "--allow-udp"}, ""},
		{"ambassador init with a proxy flag", Ambassador, []string{"init", "--transparent", "127.0.0.1:15001"}, "unknown flag: --transparent"},
		{"ambassador init with a negative uid", Ambassador, []string{"init", "--proxy-uid", "-1"}, "invalid argument"},
		{"ambassador init with a port out of range", Ambassador, []string{"init", "--capture-port", "70000"}, "invalid argument"},
		{"ambassador init with a bad CIDR", Ambassador, []string{"init", "--exclude-cidrs", "10.0.0.0/33"}, "invalid argument"},
		{"ambassador init with a positional argument", Ambassador, []string{"init", "now"}, "unexpected positional"},
		{"controlplane serve with its flags", ControlPlane, []string{"serve", "--routes", "/r", "--xds", ":18000"}, ""},
		{"controlplane without serve", ControlPlane, []string{"--routes", "/r"}, "must start with the serve subcommand"},
		{"controlplane with an ambassador flag", ControlPlane, []string{"serve", "--workload", "w"}, "unknown flag: --workload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseArgs(tt.binary, tt.args)
			if tt.want == "" && err != nil {
				t.Fatalf("ParseArgs: %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ParseArgs error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if err := CheckEnv(Ambassador, []EnvVar{{Name: "MESHLITE_LOG_LEVEL"}}); err != nil {
		t.Errorf("MESHLITE_LOG_LEVEL names --log-level: %v", err)
	}
	if err := CheckEnv(Ambassador, []EnvVar{{Name: "MESHLITE_LOGLEVEL"}}); err == nil {
		t.Error("MESHLITE_LOGLEVEL names no flag but was accepted")
	}
}

func TestContainerArgsUseDefinedFlags(t *testing.T) {
	tree := loadTree(t)
	seen := map[string]int{}
	for _, p := range pods(t, tree) {
		for _, c := range p.spec().AllContainers() {
			b := Binary(c.Image)
			if b == "" {
				if strings.HasPrefix(c.Image, ImageRepository+Ambassador) || strings.HasPrefix(c.Image, ImageRepository+ControlPlane) {
					t.Errorf("%s container %s: image %q is neither %s%s nor %s%s", p.obj, c.Name, c.Image,
						ImageRepository, Ambassador, ImageRepository, ControlPlane)
				}
				continue
			}
			seen[b]++
			if len(c.Command) > 0 {
				t.Errorf("%s container %s: command %q overrides the image's entrypoint; use args", p.obj, c.Name, c.Command)
			}
			if _, err := ParseArgs(b, c.Args); err != nil {
				t.Errorf("%s container %s: %v", p.obj, c.Name, err)
			}
			if err := CheckEnv(b, c.Env); err != nil {
				t.Errorf("%s container %s: %v", p.obj, c.Name, err)
			}
		}
	}
	if seen[Ambassador] == 0 || seen[ControlPlane] == 0 {
		t.Errorf("containers per binary = %v, want at least one ambassador and one controlplane", seen)
	}
}

// Every container meets the restricted Pod Security Standard (the
// namespaces enforce it), and declares what it needs; the one exception is
// the transparent capture's init container, which is root with exactly
// NET_ADMIN and nothing else (captureSecurityProblems).
func TestSecurityContexts(t *testing.T) {
	tree := loadTree(t)
	for _, p := range pods(t, tree) {
		ps := p.spec()
		for _, c := range ps.AllContainers() {
			t.Run(p.obj.Name+"/"+c.Name, func(t *testing.T) {
				for _, problem := range SecurityProblems(ps.SecurityContext, c) {
					t.Errorf("%s container %s: %s", p.obj, c.Name, problem)
				}
			})
		}
		if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken should be false (nothing here calls the Kubernetes API)", p.obj)
		}
	}
	checkPodSecurityLevels(t, tree)
}

// checkPodSecurityLevels: every namespace enforces the restricted level,
// except one whose pods install the transparent capture: its NET_ADMIN init
// container is admitted by no level short of privileged, so that namespace
// enforces privileged and still warns and audits at restricted.
func checkPodSecurityLevels(t *testing.T, tree *Tree) {
	t.Helper()
	capture := map[string]bool{}
	for _, p := range pods(t, tree) {
		if slices.ContainsFunc(p.spec().InitContainers, IsCapture) {
			capture[p.obj.Namespace] = true
		}
	}
	const label = "pod-security.kubernetes.io/"
	for _, o := range tree.Find("Namespace") {
		var ns struct{ Metadata Meta }
		if err := o.Decode(&ns); err != nil {
			t.Fatal(err)
		}
		l := ns.Metadata.Labels
		switch {
		case !capture[o.Name] && l[label+"enforce"] != "restricted":
			t.Errorf("%s: label %senforce should be restricted", o, label)
		case capture[o.Name] && (l[label+"enforce"] != "privileged" || l[label+"warn"] != "restricted" || l[label+"audit"] != "restricted"):
			t.Errorf("%s: runs the NET_ADMIN capture, so %senforce should be privileged (no other level admits it) and %swarn and %saudit restricted; labels %v",
				o, label, label, label, l)
		}
	}
}
