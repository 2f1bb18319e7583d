// Package webhook serves injection as a Kubernetes mutating admission
// webhook: POST /inject takes an AdmissionReview (admission.k8s.io/v1) for
// a Pod and answers with the JSON Patch that inject computes. A Pod created
// by a controller carries its template's labels and annotations, so the
// same meshlite.io/* settings apply as for `controlplane inject`.
//
// The path says who asked. On Path a Pod is injected only if it asks
// itself (meshlite.io/inject: enabled); on NamespacePath, where the
// MutatingWebhookConfiguration sends the Pods of namespaces labelled
// meshlite.io/inject=enabled, every Pod is injected unless it says
// meshlite.io/inject: disabled.
package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlite/meshlite/internal/controlplane/inject"
)

// Path and NamespacePath are where the webhook listens, the
// MutatingWebhookConfiguration's clientConfig.service.path: Path for Pods
// that ask themselves, NamespacePath for the Pods of a namespace that asks
// (the API server allows no query string in a webhook's URL, so the
// difference is a path segment).
const (
	Path          = "/inject"
	NamespacePath = Path + "/namespace"
)

// maxReviewBytes bounds a request body: a Pod is at most ~1.5 MiB in etcd,
// and a CREATE review carries it once.
const maxReviewBytes = 4 << 20

var podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

// Handler returns the webhook's handler: POST Path and NamespacePath, and
// 404 for anything else. log receives one line per review; nil discards
// them.
func Handler(in *inject.Injector, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+Path, &handler{in: in, log: log, scope: inject.TemplateAsks})
	mux.Handle("POST "+NamespacePath, &handler{in: in, log: log, scope: inject.NamespaceAsks})
	return mux
}

type handler struct {
	in    *inject.Injector
	log   *slog.Logger
	scope inject.Scope // from the path
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "webhook: Content-Type must be application/json (an AdmissionReview)", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
	if err != nil {
		http.Error(w, fmt.Sprintf("webhook: reading the review: %v", err), http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "webhook: not an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() {
		http.Error(w, fmt.Sprintf("webhook: AdmissionReview apiVersion %q; want %s (admissionReviewVersions: [v1])",
			review.APIVersion, admissionv1.SchemeGroupVersion), http.StatusBadRequest)
		return
	}
	resp := h.review(review.Request)
	resp.UID = review.Request.UID
	out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
	if err != nil {
		http.Error(w, "webhook: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// review decides one request: other resources and operations are allowed
// untouched; a Pod that asks (or, on NamespacePath, does not refuse) gets
// the patch; a Pod that asks but cannot be injected is refused with the
// reason, so it never runs unprotected.
func (h *handler) review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Resource != podResource || req.SubResource != "" || req.Operation != admissionv1.Create {
		return allow
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return deny(http.StatusBadRequest, fmt.Sprintf("webhook: the request's object is not a Pod: %v", err))
	}
	name := podName(req, &pod)
	ops, err := h.in.Template(name, "", pod.ObjectMeta, pod.Spec, h.scope)
	var ierr *inject.Error
	switch {
	case errors.As(err, &ierr):
		h.log.Warn("webhook: refused", "pod", name, "reason", ierr.Err.Error(), "namespace_asks", h.scope == inject.NamespaceAsks, "dry_run", isTrue(req.DryRun))
		return deny(http.StatusBadRequest, err.Error())
	case err != nil:
		h.log.Error("webhook: failed", "pod", name, "error", err)
		return deny(http.StatusInternalServerError, err.Error())
	case len(ops) == 0:
		return allow
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return deny(http.StatusInternalServerError, "webhook: "+err.Error())
	}
	h.log.Info("webhook: injected", "pod", name, "operations", len(ops), "namespace_asks", h.scope == inject.NamespaceAsks, "dry_run", isTrue(req.DryRun))
	pt := admissionv1.PatchTypeJSONPatch
	return &admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt}
}

// podName names the pod in errors and logs: a controller's pods have only
// a generateName when they are created.
func podName(req *admissionv1.AdmissionRequest, pod *corev1.Pod) string {
	name := pod.Name
	if name == "" {
		name = req.Name
	}
	if name == "" && pod.GenerateName != "" {
		name = pod.GenerateName + "*"
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	return "Pod " + ns + "/" + name
}

func deny(code int32, msg string) *admissionv1.AdmissionResponse {
	reason := metav1.StatusReasonBadRequest
	if code >= 500 {
		reason = metav1.StatusReasonInternalError
	}
	return &admissionv1.AdmissionResponse{Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Message: msg, Reason: reason,
	}}
}

func isTrue(b *bool) bool { return b != nil && *b }
