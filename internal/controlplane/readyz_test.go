package controlplane

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// TestReadyzNamesWhatItWaitsFor: before its first publication, /readyz
// says what the control plane waits for: the directory's scan, or with the
// Kubernetes source the RouteTables' list.
func TestReadyzNamesWhatItWaitsFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"directory", Options{RoutesDir: t.TempDir()}, "not ready: the route directory has not been scanned and published yet"},
		{"kubernetes", Options{Kubernetes: &KubernetesOptions{
			Config: &rest.Config{Host: "https://127.0.0.1:1"}, LeaseNamespace: "meshlite-system", LeaseName: "meshlite-controlplane",
		}}, "not ready: the RouteTable resources have not been listed and published yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			cp.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != http.StatusServiceUnavailable || !strings.Contains(string(body), tc.want) {
				t.Errorf("/readyz = %d %q, want 503 with %q", rec.Code, body, tc.want)
			}
		})
	}
}
