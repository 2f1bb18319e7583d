package webhook

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshlite/meshlite/internal/controlplane/inject"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/kubetest"
)

// manifestConfig is the MutatingWebhookConfiguration the manifests install.
const manifestConfig = "../../../deploy/manifests/webhook/mutatingwebhookconfiguration.yaml"

// TestAPIServerCallsTheWebhook: a real kube-apiserver, given the manifests'
// MutatingWebhookConfiguration (pointed at this webhook on the loopback and
// narrowed to the test's namespaces), injects what it should: a pod that
// asks in a namespace without the label, every pod of a labelled namespace
// but those that say disabled, and nothing else.
func TestAPIServerCallsTheWebhook(t *testing.T) {
	c := kubetest.Shared(t)
	plain := c.Namespace(t, "inject-plain")
	meshed := c.Namespace(t, "inject-meshed")
	labelNamespace(t, c, meshed, inject.Inject, inject.Enabled)
	addr := startWebhook(t)
	installConfig(t, c, addr, plain, meshed)

	// The API server picks the configuration up from a watch: poll with a
	// pod the namespace asks for. Once one is injected, both webhooks are
	// in place (they are one object), so the absences below are real.
	waitInjected(t, c, meshed)

	tests := []struct {
		name, ns            string
		labels, annotations map[string]string
		want                string // "injected", "transparent", "untouched" or a refusal's substring
	}{
		{"unlabelled namespace, pod asks by annotation, transparent", plain, nil,
			map[string]string{inject.Inject: inject.Enabled, inject.Capture: inject.CaptureTPRT}, "transparent"},
		{"unlabelled namespace, pod asks by label", plain, map[string]string{inject.Inject: inject.Enabled}, nil, "injected"},
		{"unlabelled namespace, pod does not ask", plain, nil, nil, "untouched"},
		{"labelled namespace, pod says nothing", meshed, nil, nil, "injected"},
		{"labelled namespace, pod label disabled", meshed, map[string]string{inject.Inject: inject.Disabled}, nil, "untouched"},
		{"labelled namespace, pod annotation disabled", meshed, nil, map[string]string{inject.Inject: inject.Disabled}, "untouched"},
		{"labelled namespace, pod without a workload name", meshed, map[string]string{"app": ""}, nil,
			"no workload name: set annotation meshlite.io/workload or label app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := appPod(tt.labels, tt.annotations)
			got, err := c.Client.CoreV1().Pods(tt.ns).Create(ctxT(t), pod, metav1.CreateOptions{})
			switch tt.want {
			case "injected", "transparent":
				if err != nil {
					t.Fatal(err)
				}
				checkInjected(t, got, tt.want == "transparent")
			case "untouched":
				if err != nil {
					t.Fatal(err)
				}
				if inject.Done(got.ObjectMeta, got.Spec) || len(got.Spec.InitContainers) != 0 ||
					slices.ContainsFunc(got.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == inject.XDSVolume }) {
					t.Errorf("changed: annotations %v, init containers %+v, volumes %+v", got.Annotations, got.Spec.InitContainers, got.Spec.Volumes)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "meshlite.io/inject=disabled") {
					t.Errorf("error %v, want a refusal containing %q and the way out", err, tt.want)
				}
			}
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func labelNamespace(t *testing.T, c *kubetest.Cluster, name, key, value string) {
	t.Helper()
	ns, err := c.Client.CoreV1().Namespaces().Get(ctxT(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels[key] = value // every namespace has kubernetes.io/metadata.name
	if _, err := c.Client.CoreV1().Namespaces().Update(ctxT(t), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// running is a webhook server: its address and its CA (PEM).
type running struct {
	addr string
	ca   []byte
}

// startWebhook serves the real handler with the real injector (xDS
// identity on) over TLS on the loopback, until the test ends, and returns
// its address and CA bundle.
func startWebhook(t *testing.T) running {
	t.Helper()
	// the API server's HTTP/2 connections close about a second after the
	// shutdown's GOAWAY
	w := serve(t, inject.Options{Image: "ghcr.io/meshlite/ambassador:test", XDSCAConfigMap: "meshlite-xds-ca"}, 10*time.Second)
	caPEM, err := os.ReadFile(w.ca.File)
	if err != nil {
		t.Fatal(err)
	}
	return running{addr: w.addr, ca: caPEM}
}

// installConfig creates the manifests' configuration with each webhook's
// service replaced by a URL with the same path on w, and its namespace
// selector narrowed to namespaces: other tests sharing the cluster are not
// sent anything.
func installConfig(t *testing.T, c *kubetest.Cluster, w running, namespaces ...string) {
	t.Helper()
	data, err := os.ReadFile(manifestConfig)
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionregistrationv1.MutatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		t.Fatalf("%s: %v", manifestConfig, err)
	}
	if len(cfg.Webhooks) != 2 {
		t.Fatalf("%s: %d webhooks, want 2 (namespace, pod)", manifestConfig, len(cfg.Webhooks))
	}
	cfg.ObjectMeta = metav1.ObjectMeta{Name: namespaces[0]} // unique, like the namespace
	for i := range cfg.Webhooks {
		wh := &cfg.Webhooks[i]
		svc := wh.ClientConfig.Service
		if svc == nil || svc.Path == nil {
			t.Fatalf("webhook %s: no service path", wh.Name)
		}
		url := "https://" + w.addr + *svc.Path
		wh.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: w.ca}
		wh.NamespaceSelector.MatchExpressions = append(wh.NamespaceSelector.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: namespaces,
		})
		wh.TimeoutSeconds = ptr(int32(10)) // a shared machine under -race
	}
	hooks := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := hooks.Create(ctxT(t), &cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = hooks.Delete(ctx, cfg.Name, metav1.DeleteOptions{})
	})
}

func ptr[T any](v T) *T { return &v }

// waitInjected creates pods that say nothing in ns, a labelled namespace,
// until one comes back injected.
func waitInjected(t *testing.T, c *kubetest.Cluster, ns string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.Client.CoreV1().Pods(ns).Create(ctxT(t), appPod(nil, nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create a pod through the webhook: %v", err)
		}
		if inject.Done(got.ObjectMeta, got.Spec) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pod injected within 30s; last one's init containers %+v", got.Spec.InitContainers)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// appPod is a pod of workload web; a label given "" is removed.
func appPod(labels, annotations map[string]string) *corev1.Pod {
	l := map[string]string{"app": "web"}
	for k, v := range labels {
		l[k] = v
		if v == "" {
			delete(l, k)
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Labels: l, Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
	}
}

// checkInjected checks the pod the API server stored: the ambassador as a
// native sidecar sending its namespace and token, the capture before it
// when transparent, the token volume.
func checkInjected(t *testing.T, p *corev1.Pod, transparent bool) {
	t.Helper()
	var names []string
	for _, c := range p.Spec.InitContainers {
		names = append(names, c.Name)
	}
	want := []string{inject.AmbassadorName}
	if transparent {
		want = []string{inject.CaptureName, inject.AmbassadorName}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("init containers %q, want %q", names, want)
	}
	amb := p.Spec.InitContainers[len(want)-1]
	if amb.RestartPolicy == nil || *amb.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("ambassador restartPolicy %v, want Always (a native sidecar)", amb.RestartPolicy)
	}
	args := strings.Join(amb.Args, " ")
	for _, a := range []string{
		"--namespace $(POD_NAMESPACE)",
		"--xds-token " + inject.XDSDir + "/" + inject.XDSTokenFile,
		"--xds-ca " + inject.XDSDir + "/" + inject.XDSCAKey,
		"--transparent", // or --listen below
	} {
		if a == "--transparent" && !transparent {
			a = "--listen"
		}
		if !strings.Contains(args, a) {
			t.Errorf("ambassador args %q: no %q", args, a)
		}
	}
	if transparent && !slices.Contains(p.Spec.InitContainers[0].Args, "init") {
		t.Errorf("capture args %q, want ambassador init", p.Spec.InitContainers[0].Args)
	}
	i := slices.IndexFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == inject.XDSVolume })
	if i < 0 {
		t.Fatalf("no volume %s in %+v", inject.XDSVolume, p.Spec.Volumes)
	}
	if pr := p.Spec.Volumes[i].Projected; pr == nil || pr.Sources[0].ServiceAccountToken == nil || pr.Sources[0].ServiceAccountToken.Audience != xds.DefaultAudience {
		t.Errorf("volume %s: %+v, want a projected token for audience %s", inject.XDSVolume, p.Spec.Volumes[i], xds.DefaultAudience)
	}
	if !slices.ContainsFunc(amb.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == inject.XDSVolume && m.MountPath == inject.XDSDir && m.ReadOnly
	}) {
		t.Errorf("ambassador mounts %+v: no read-only %s at %s", amb.VolumeMounts, inject.XDSVolume, inject.XDSDir)
	}
	if p.Annotations[inject.Injected] == "" {
		t.Error("no injected marker")
	}
}
