package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshlite/meshlite/internal/controlplane/inject"
	"github.com/meshlite/meshlite/internal/tlstest"
)

// server is a running webhook on 127.0.0.1:0.
type server struct {
	url               string
	client            *http.Client
	ca                *tlstest.CA
	certFile, keyFile string
	stop              func() error
}

func startServer(t *testing.T) *server {
	t.Helper()
	w := serve(t, inject.Options{Image: "ghcr.io/meshlite/ambassador:test"}, time.Second)
	s := &server{url: "https://" + w.addr, ca: w.ca, certFile: w.pair.Cert, keyFile: w.pair.Key}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool()}}
	s.client = &http.Client{Transport: tr, Timeout: 5 * time.Second}
	s.stop = func() error {
		tr.CloseIdleConnections()
		return w.stop()
	}
	t.Cleanup(tr.CloseIdleConnections) // before serve's own cleanup stops the server
	return s
}

// served is the real handler, with a real injector, served over TLS on the
// loopback with a certificate of a new CA.
type served struct {
	addr string
	ca   *tlstest.CA
	pair tlstest.Pair
	// stop cancels Serve and returns its error; it may be called again, and
	// is called when the test ends.
	stop func() error
}

func serve(t *testing.T, opts inject.Options, grace time.Duration) served {
	t.Helper()
	ca := tlstest.NewCA(t, "webhook CA")
	pair := ca.Server(t, "tls")
	in, err := inject.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{CertFile: pair.Cert, KeyFile: pair.Key, Handler: Handler(in, nil), ShutdownGrace: grace})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return served{addr: lis.Addr().String(), ca: ca, pair: pair, stop: stop}
}

func podReview(t *testing.T, op admissionv1.Operation, pod *corev1.Pod) admissionv1.AdmissionReview {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("uid-" + string(op)),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "shop", Operation: op,
			Object: runtime.RawExtension{Raw: raw},
		},
	}
}

func (s *server) post(t *testing.T, review any) admissionv1.AdmissionReview {
	t.Helper()
	return s.postTo(t, Path, review)
}

func (s *server) postTo(t *testing.T, path string, review any) admissionv1.AdmissionReview {
	t.Helper()
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.Post(s.url+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(data, &out); err != nil || out.Response == nil {
		t.Fatalf("response %s: %v", data, err)
	}
	return out
}

func webPod(annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-7d9f-", Labels: map[string]string{"app": "web"},
			Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}},
	}
}

// patched applies a response's patch to pod, as the API server would.
func patched(t *testing.T, pod *corev1.Pod, resp *admissionv1.AdmissionResponse) *corev1.Pod {
	t.Helper()
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patch type %v, want JSONPatch", resp.PatchType)
	}
	var ops []inject.Op
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(pod)
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc, err := inject.Apply(doc, ops)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = json.Marshal(doc)
	var out corev1.Pod
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestReviews(t *testing.T) {
	s := startServer(t)
	enabled := map[string]string{inject.Inject: inject.Enabled}

	t.Run("a pod that asks is injected", func(t *testing.T) {
		pod := webPod(map[string]string{inject.Inject: inject.Enabled, inject.Capture: inject.CaptureTPRT})
		out := s.post(t, podReview(t, admissionv1.Create, pod))
		r := out.Response
		if !r.Allowed || r.UID != "uid-CREATE" || out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
			t.Fatalf("response %+v (review %s/%s)", r, out.APIVersion, out.Kind)
		}
		got := patched(t, pod, r)
		if ic := got.Spec.InitContainers; len(ic) != 2 || ic[0].Name != inject.CaptureName || ic[1].Name != inject.AmbassadorName {
			t.Fatalf("init containers %+v", ic)
		}
		if got.Annotations[inject.Injected] == "" {
			t.Error("no marker annotation")
		}
		// reinvocation (reinvocationPolicy: IfNeeded) changes nothing
		again := s.post(t, podReview(t, admissionv1.Create, got)).Response
		if !again.Allowed || again.Patch != nil {
			t.Errorf("second review of the injected pod: %+v", again)
		}
	})
	t.Run("a pod that does not ask is allowed untouched", func(t *testing.T) {
		r := s.post(t, podReview(t, admissionv1.Create, webPod(nil))).Response
		if !r.Allowed || r.Patch != nil || r.PatchType != nil {
			t.Errorf("response %+v", r)
		}
	})
	t.Run("updates are not mutated", func(t *testing.T) {
		r := s.post(t, podReview(t, admissionv1.Update, webPod(enabled))).Response
		if !r.Allowed || r.Patch != nil {
			t.Errorf("response %+v", r)
		}
	})
	t.Run("other resources are not mutated", func(t *testing.T) {
		rev := podReview(t, admissionv1.Create, webPod(enabled))
		rev.Request.Resource = metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
		if r := s.post(t, rev).Response; !r.Allowed || r.Patch != nil {
			t.Errorf("response %+v", r)
		}
	})
	t.Run("a pod that asks with a bad annotation is refused with the reason", func(t *testing.T) {
		pod := webPod(map[string]string{inject.Inject: inject.Enabled, inject.Memory: "lots"})
		r := s.post(t, podReview(t, admissionv1.Create, pod)).Response
		if r.Allowed || r.Result == nil || r.Result.Code != http.StatusBadRequest ||
			!strings.Contains(r.Result.Message, "inject: Pod shop/web-7d9f-*: annotation meshlite.io/memory: \"lots\"") {
			t.Errorf("response %+v", r)
		}
	})
}

// TestPaths: on NamespacePath (a labelled namespace) a pod is injected
// unless it says disabled; on Path only if it asks.
func TestPaths(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name, path  string
		labels      map[string]string
		annotations map[string]string
		want        string // "injected", "untouched" or a refusal's substring
	}{
		{"namespace asks, pod says nothing", NamespacePath, nil, nil, "injected"},
		{"namespace asks, pod label disabled", NamespacePath, map[string]string{inject.Inject: inject.Disabled}, nil, "untouched"},
		{"namespace asks, pod annotation disabled", NamespacePath, nil, map[string]string{inject.Inject: inject.Disabled}, "untouched"},
		{"namespace asks, no workload name", NamespacePath, map[string]string{"app": ""}, nil,
			"no workload name: set annotation meshlite.io/workload or label app (the RouteTable's name) (the namespace is labelled meshlite.io/inject=enabled: fix the pod, or label it meshlite.io/inject=disabled"},
		{"pod asks by label", Path, map[string]string{inject.Inject: inject.Enabled}, nil, "injected"},
		{"pod asks by annotation", Path, nil, map[string]string{inject.Inject: inject.Enabled}, "injected"},
		{"pod says nothing", Path, nil, nil, "untouched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := webPod(tt.annotations)
			for k, v := range tt.labels {
				pod.Labels[k] = v
			}
			if pod.Labels["app"] == "" {
				delete(pod.Labels, "app")
			}
			r := s.postTo(t, tt.path, podReview(t, admissionv1.Create, pod)).Response
			switch tt.want {
			case "injected":
				got := patched(t, pod, r)
				if !inject.Done(got.ObjectMeta, got.Spec) || got.Spec.InitContainers[0].Name != inject.AmbassadorName {
					t.Errorf("not injected: %+v", got.Spec.InitContainers)
				}
			case "untouched":
				if !r.Allowed || r.Patch != nil {
					t.Errorf("response %+v, want allowed untouched", r)
				}
			default:
				if r.Allowed || r.Result == nil || !strings.Contains(r.Result.Message, tt.want) {
					t.Errorf("response %+v, want a refusal containing %q", r, tt.want)
				}
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	s := startServer(t)
	review, _ := json.Marshal(podReview(t, admissionv1.Create, webPod(nil)))
	v1beta1 := bytes.Replace(review, []byte(`admission.k8s.io/v1"`), []byte(`admission.k8s.io/v1beta1"`), 1)
	tests := []struct {
		name, method, path, contentType string
		body                            []byte
		want                            int
	}{
		{"GET", http.MethodGet, Path, "", nil, http.StatusMethodNotAllowed},
		{"other path", http.MethodPost, "/mutate", "application/json", review, http.StatusNotFound},
		{"below the namespace path", http.MethodPost, NamespacePath + "/x", "application/json", review, http.StatusNotFound},
		{"not JSON", http.MethodPost, Path, "text/plain", review, http.StatusUnsupportedMediaType},
		{"no request", http.MethodPost, Path, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), http.StatusBadRequest},
		{"v1beta1", http.MethodPost, Path, "application/json", v1beta1, http.StatusBadRequest},
		{"too large", http.MethodPost, Path, "application/json", bytes.Repeat([]byte(" "), maxReviewBytes+1), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, s.url+tt.path, bytes.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	s := startServer(t)
	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(s.url, "https://"), &tls.Config{
			RootCAs: s.ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
		})
		if err == nil {
			conn.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})
	t.Run("a rotated certificate is served without a restart", func(t *testing.T) {
		if got, want := servedSerial(t, s), issuedSerial(t, s.certFile); got.Cmp(want) != 0 {
			t.Fatalf("serial %d, want %d", got, want)
		}
		s.ca.Server(t, "tls")
		rotated := issuedSerial(t, s.certFile)
		deadline := time.Now().Add(5 * time.Second)
		for servedSerial(t, s).Cmp(rotated) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the new certificate was not served within 5s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("a broken rotation keeps the previous certificate", func(t *testing.T) {
		want := issuedSerial(t, s.certFile)
		tlstest.WriteAtomic(t, s.certFile, []byte("not a certificate"))
		time.Sleep(1100 * time.Millisecond) // past the once-a-second check
		if got := servedSerial(t, s); got.Cmp(want) != 0 {
			t.Errorf("serial %d after a broken rotation, want %d (the previous one)", got, want)
		}
	})
	t.Run("shutdown is graceful", func(t *testing.T) {
		if err := s.stop(); err != nil {
			t.Fatalf("Serve returned %v after its context was cancelled", err)
		}
		if _, err := tls.Dial("tcp", strings.TrimPrefix(s.url, "https://"), &tls.Config{RootCAs: s.ca.Pool()}); err == nil {
			t.Error("still accepting connections after shutdown")
		}
	})
}

func servedSerial(t *testing.T, s *server) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.url, "https://"), &tls.Config{RootCAs: s.ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// issuedSerial is the serial number of the certificate in file.
func issuedSerial(t *testing.T, file string) *big.Int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber
}

func TestNewRefusesMissingCertificate(t *testing.T) {
	dir := t.TempDir()
	_, err := New(Options{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), Handler: http.NotFoundHandler()})
	if err == nil || !strings.Contains(err.Error(), "tls.crt") {
		t.Errorf("error %v, want one naming the certificate file", err)
	}
}
