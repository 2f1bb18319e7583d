package inject

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
)

// injectPod runs Template on pod and applies the operations, as the API
// server applies the webhook's patch.
func injectPod(t *testing.T, in *Injector, pod corev1.Pod, scope Scope) (*corev1.Pod, error) {
	t.Helper()
	ops, err := in.Template("Pod shop/p", "", pod.ObjectMeta, pod.Spec, scope)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc, err = Apply(doc, ops); err != nil {
		t.Fatal(err)
	}
	if raw, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	var out corev1.Pod
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return &out, nil
}

func pod(labels, annotations map[string]string, volumes ...corev1.Volume) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Labels: labels, Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}, Volumes: volumes},
	}
}

func ambassadorOf(t *testing.T, p *corev1.Pod) corev1.Container {
	t.Helper()
	i := slices.IndexFunc(p.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == AmbassadorName })
	if i < 0 {
		t.Fatalf("no %s init container in %+v", AmbassadorName, p.Spec.InitContainers)
	}
	return p.Spec.InitContainers[i]
}

// TestXDSIdentity: with a CA ConfigMap the ambassador gets a projected
// token for the control plane's audience and the CA, read-only, and the
// flags that use them; without one, plaintext and no token. Either way it
// sends the pod's namespace, and its arguments pass the ambassador's own
// configuration checks (a token without --xds-ca would not).
func TestXDSIdentity(t *testing.T) {
	own := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	tests := []struct {
		name      string
		configMap string
		volumes   []corev1.Volume
		wantVols  []string
	}{
		{"plaintext", "", nil, nil},
		{"plaintext keeps the pod's volumes", "", []corev1.Volume{own}, []string{"data"}},
		{"identity", "meshlite-xds-ca", nil, []string{XDSVolume}},
		{"identity after the pod's volumes", "meshlite-xds-ca", []corev1.Volume{own}, []string{"data", XDSVolume}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := New(Options{Image: testImage, XDSCAConfigMap: tt.configMap})
			if err != nil {
				t.Fatal(err)
			}
			got, err := injectPod(t, in, pod(map[string]string{"app": "web", Inject: Enabled}, nil, tt.volumes...), TemplateAsks)
			if err != nil {
				t.Fatal(err)
			}
			var vols []string
			for _, v := range got.Spec.Volumes {
				vols = append(vols, v.Name)
			}
			if !slices.Equal(vols, tt.wantVols) {
				t.Errorf("volumes %q, want %q", vols, tt.wantVols)
			}
			amb := ambassadorOf(t, got)
			cfg := ambassadorConfig(t, amb)
			if cfg.Namespace != "shop" {
				t.Errorf("namespace %q from args %q, want the pod's (shop)", cfg.Namespace, amb.Args)
			}
			if tt.configMap == "" {
				if cfg.CA != "" || cfg.Token != "" || len(amb.VolumeMounts) != 0 {
					t.Errorf("plaintext: --xds-ca %q --xds-token %q mounts %+v, want none", cfg.CA, cfg.Token, amb.VolumeMounts)
				}
				return
			}
			if cfg.CA != XDSDir+"/ca.crt" || cfg.Token != XDSDir+"/token" {
				t.Errorf("--xds-ca %q --xds-token %q", cfg.CA, cfg.Token)
			}
			if m := amb.VolumeMounts; len(m) != 1 || m[0].Name != XDSVolume || m[0].MountPath != XDSDir || !m[0].ReadOnly || m[0].SubPath != "" {
				t.Errorf("mounts %+v, want %s read-only at %s (no subPath: the token rotates)", m, XDSVolume, XDSDir)
			}
			checkXDSVolume(t, got.Spec.Volumes[len(got.Spec.Volumes)-1], tt.configMap)
			if again, err := injectPod(t, in, *got, TemplateAsks); err != nil || !slices.EqualFunc(again.Spec.Volumes, got.Spec.Volumes, func(a, b corev1.Volume) bool { return a.Name == b.Name }) {
				t.Errorf("injecting twice: err %v, volumes %+v", err, again.Spec.Volumes)
			}
		})
	}
}

// checkXDSVolume: a token for the control plane's audience that expires,
// and the CA's one key.
func checkXDSVolume(t *testing.T, v corev1.Volume, configMap string) {
	t.Helper()
	p := v.Projected
	if p == nil || len(p.Sources) != 2 {
		t.Fatalf("volume %+v, want a projected volume of two sources", v)
	}
	tok, cm := p.Sources[0].ServiceAccountToken, p.Sources[1].ConfigMap
	if tok == nil || tok.Audience != xds.DefaultAudience || tok.Path != XDSTokenFile || tok.ExpirationSeconds == nil || *tok.ExpirationSeconds != TokenExpiration {
		t.Errorf("token source %+v, want audience %s, path %s, %ds", tok, xds.DefaultAudience, XDSTokenFile, TokenExpiration)
	}
	if cm == nil || cm.Name != configMap || len(cm.Items) != 1 || cm.Items[0].Key != XDSCAKey || cm.Items[0].Path != XDSCAKey || cm.Optional != nil {
		t.Errorf("CA source %+v, want ConfigMap %s key %s, not optional", cm, configMap, XDSCAKey)
	}
}

// ambassadorConfig loads the container's arguments as the ambassador
// would, in a pod of namespace shop ($(POD_NAMESPACE) expanded as the
// kubelet does).
func ambassadorConfig(t *testing.T, c corev1.Container) (cfg struct{ CA, Token, Namespace string }) {
	t.Helper()
	args := slices.Clone(c.Args)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "$(POD_NAMESPACE)", "shop")
	}
	fs := pflag.NewFlagSet("ambassador", pflag.ContinueOnError)
	config.AmbassadorFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("args %q: %v", c.Args, err)
	}
	amb, err := config.LoadAmbassador(fs)
	if err != nil {
		t.Fatalf("args %q: the ambassador refuses them: %v", c.Args, err)
	}
	cfg.CA, cfg.Token, cfg.Namespace = amb.CA, amb.Token, amb.Namespace
	return cfg
}

func TestXDSVolumeNameTaken(t *testing.T) {
	in, err := New(Options{Image: testImage, XDSCAConfigMap: "meshlite-xds-ca"})
	if err != nil {
		t.Fatal(err)
	}
	taken := corev1.Volume{Name: XDSVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	_, err = injectPod(t, in, pod(map[string]string{"app": "web", Inject: Enabled}, nil, taken), TemplateAsks)
	if err == nil || !strings.Contains(err.Error(), `volume "meshlite-xds" exists`) {
		t.Errorf("error %v, want one naming the volume", err)
	}
}

func TestBadXDSCAConfigMap(t *testing.T) {
	_, err := New(Options{Image: testImage, XDSCAConfigMap: "Not_A_Name"})
	if err == nil || !strings.Contains(err.Error(), `xDS CA ConfigMap "Not_A_Name" is not a ConfigMap name`) {
		t.Errorf("error %v", err)
	}
}

// TestScope: in a namespace that asks, a pod is injected unless it says
// disabled (label or annotation); elsewhere only if it asks.
func TestScope(t *testing.T) {
	in := newInjector(t)
	tests := []struct {
		name                string
		labels, annotations map[string]string
		scope               Scope
		want                bool
		wantErr             string
	}{
		{"namespace asks, pod says nothing", map[string]string{"app": "web"}, nil, NamespaceAsks, true, ""},
		{"namespace asks, pod asks too", map[string]string{"app": "web", Inject: Enabled}, nil, NamespaceAsks, true, ""},
		{"namespace asks, pod label disabled", map[string]string{"app": "web", Inject: Disabled}, nil, NamespaceAsks, false, ""},
		{"namespace asks, pod annotation disabled", map[string]string{"app": "web"}, map[string]string{Inject: Disabled}, NamespaceAsks, false, ""},
		{"namespace asks, pod has no workload name", nil, nil, NamespaceAsks, false,
			"no workload name: set annotation meshlite.io/workload or label app (the RouteTable's name) (the namespace is labelled meshlite.io/inject=enabled: fix the pod, or label it meshlite.io/inject=disabled"},
		{"namespace asks, label and annotation disagree", map[string]string{"app": "web", Inject: Disabled}, map[string]string{Inject: Enabled}, NamespaceAsks, false,
			`label meshlite.io/inject is "disabled" but the annotation is "enabled"`},
		{"template scope, pod says nothing", map[string]string{"app": "web"}, nil, TemplateAsks, false, ""},
		{"template scope, pod annotation enabled", map[string]string{"app": "web"}, map[string]string{Inject: Enabled}, TemplateAsks, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := injectPod(t, in, pod(tt.labels, tt.annotations), tt.scope)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if injected := Done(got.ObjectMeta, got.Spec); injected != tt.want {
				t.Errorf("injected %v, want %v", injected, tt.want)
			}
		})
	}
}
