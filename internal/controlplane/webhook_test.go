package controlplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/meshlite/meshlite/internal/controlplane/inject"
	"github.com/meshlite/meshlite/internal/controlplane/webhook"
	"github.com/meshlite/meshlite/internal/testnet"
	"github.com/meshlite/meshlite/internal/tlstest"
)

// The control plane serves the webhook beside xDS and admin, and stops it
// with them.
func TestWebhookIsServedAndStopped(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "web.yaml"), tableYAML("web", "http://numbers-api/rng"))
	ca := tlstest.NewCA(t, "meshlite test CA")
	pair := ca.Server(t, "webhook")
	certFile, keyFile := pair.Cert, pair.Key
	cp, err := New(Options{RoutesDir: dir, ShutdownGrace: 5 * time.Second, Webhook: WebhookOptions{
		Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, Inject: inject.Options{Version: "v9"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	lis := Listeners{XDS: testnet.Listen(t), Admin: testnet.Listen(t), Webhook: testnet.Listen(t)}
	wl := lis.Webhook
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.ServeListeners(ctx, lis) }()

	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",
	  "kind":{"version":"v1","kind":"Pod"},"resource":{"version":"v1","resource":"pods"},"namespace":"shop","operation":"CREATE",
	  "object":{"metadata":{"name":"p","labels":{"app":"web","meshlite.io/inject":"enabled"}},"spec":{"containers":[{"name":"a","image":"a"}]}}}}`
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := client.Post("https://"+wl.Addr().String()+webhook.Path, "application/json", bytes.NewReader([]byte(review)))
	if err != nil {
		t.Fatal(err)
	}
	var out admissionv1.AdmissionReview
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	tr.CloseIdleConnections()
	if err != nil || out.Response == nil || !out.Response.Allowed || !strings.Contains(string(out.Response.Patch), "ghcr.io/meshlite/ambassador:v9") {
		t.Errorf("review answer %+v, %v", out.Response, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListeners: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ServeListeners did not return after cancel")
	}
}

func TestWebhookNeedsItsCertificate(t *testing.T) {
	dir := t.TempDir()
	_, err := New(Options{RoutesDir: dir, Webhook: WebhookOptions{
		Addr: ":0", CertFile: filepath.Join(dir, "missing.crt"), KeyFile: filepath.Join(dir, "missing.key"),
	}})
	if err == nil || !strings.Contains(err.Error(), "missing.crt") {
		t.Errorf("New: %v, want an error naming the certificate", err)
	}
}
