package kubetest_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/kubetest"
	"github.com/meshlite/meshlite/internal/tlstest"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWebhookByURL checks that the API server calls a mutating webhook on
// the loopback over TLS (clientConfig.url), as the injection tests need.
func TestWebhookByURL(t *testing.T) {
	c := kubetest.Shared(t)
	ns := c.Namespace(t, "webhook")

	ca := tlstest.NewCA(t, "webhook CA")
	pair := ca.Server(t, "webhook")
	cert, err := tls.LoadX509KeyPair(pair.Cert, pair.Key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(labelPods))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	url := srv.URL + "/mutate"
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ns}, // unique, like the namespace
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "label.kubetest.meshlite.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules:                   []admissionregistrationv1.RuleWithOperations{podCreate()},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	hooks := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := hooks.Create(ctx(t), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hooks.Delete(ctx(t), cfg.Name, metav1.DeleteOptions{}) })

	// The API server picks the configuration up from a watch: poll.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%d", i)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app"}}},
		}
		got, err := c.Client.CoreV1().Pods(ns).Create(ctx(t), pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod through the webhook: %v", err)
		}
		if got.Labels["kubetest.meshlite.io/mutated"] == "true" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pod mutated by the webhook within 30s; last labels %v", got.Labels)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func podCreate() admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
		},
	}
}

// labelPods is a mutating webhook that labels what it is sent.
func labelPods(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad AdmissionReview", http.StatusBadRequest)
		return
	}
	patch := `[{"op":"add","path":"/metadata/labels","value":{"kubetest.meshlite.io/mutated":"true"}}]`
	pt := admissionv1.PatchTypeJSONPatch
	review.Response = &admissionv1.AdmissionResponse{
		UID: review.Request.UID, Allowed: true, Patch: []byte(patch), PatchType: &pt,
	}
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&review)
}
