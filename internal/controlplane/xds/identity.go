package xds

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// How an ambassador proved who it is (Identity.Via).
const (
	ViaCertificate = "certificate"
	ViaToken       = "token"
)

// Identity is who an xDS client proved to be.
//
// From a client certificate: a SPIFFE URI SAN
// spiffe://<trust-domain>/ns/<namespace>/sa/<workload> gives the namespace
// and the workload; without a URI SAN, the subject's CN is the workload and
// there is no namespace. From a ServiceAccount token: the namespace and the
// ServiceAccount of the TokenReview's user system:serviceaccount:<ns>:<sa>;
// a ServiceAccount is not a workload (pods of several workloads often share
// one), so Workload is empty and the identity covers its namespace.
type Identity struct {
	Via       string // ViaCertificate or ViaToken
	Subject   string // the credential's own name: the SPIFFE ID, "CN=...", or the token's user
	Namespace string // "" when the credential names none
	// Workload is the one workload whose table the identity may read; ""
	// means every workload of Namespace.
	Workload string
}

// String names the identity in log lines and refusals.
func (id Identity) String() string { return id.Via + " " + id.Subject }

type identityKey struct{}

// withIdentity returns ctx carrying id.
func withIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity a stream's context carries, if its
// client proved one.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// certIdentity reads the identity of a verified client certificate.
// trustDomain, when set, is the only SPIFFE trust domain accepted.
func certIdentity(cert *x509.Certificate, trustDomain string) (Identity, error) {
	var spiffe []*url.URL
	for _, u := range cert.URIs {
		if u.Scheme == "spiffe" {
			spiffe = append(spiffe, u)
		}
	}
	switch {
	case len(spiffe) > 1:
		return Identity{}, fmt.Errorf("client certificate has %d SPIFFE URI SANs; want one", len(spiffe))
	case len(spiffe) == 1:
		return spiffeIdentity(spiffe[0], trustDomain)
	case trustDomain != "":
		return Identity{}, fmt.Errorf("client certificate %q has no SPIFFE ID in trust domain %q", cert.Subject.CommonName, trustDomain)
	case cert.Subject.CommonName == "" || !validLabel(cert.Subject.CommonName):
		return Identity{}, fmt.Errorf("client certificate names no workload: no SPIFFE URI SAN and CN %q is not a workload name", cert.Subject.CommonName)
	}
	return Identity{Via: ViaCertificate, Subject: "CN=" + cert.Subject.CommonName, Workload: cert.Subject.CommonName}, nil
}

// spiffeIdentity reads spiffe://<td>/ns/<namespace>/sa/<workload>.
func spiffeIdentity(u *url.URL, trustDomain string) (Identity, error) {
	id := u.String()
	if trustDomain != "" && u.Host != trustDomain {
		return Identity{}, fmt.Errorf("client SPIFFE ID %s: trust domain %q is not %q", id, u.Host, trustDomain)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if u.Host == "" || len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" || !validLabel(parts[1]) || !validLabel(parts[3]) {
		return Identity{}, fmt.Errorf("client SPIFFE ID %s: want spiffe://<trust-domain>/ns/<namespace>/sa/<workload>", id)
	}
	return Identity{Via: ViaCertificate, Subject: id, Namespace: parts[1], Workload: parts[3]}, nil
}

// serviceAccountPrefix starts the user name of a ServiceAccount token.
const serviceAccountPrefix = "system:serviceaccount:"

// tokenIdentity reads system:serviceaccount:<ns>:<sa>.
func tokenIdentity(user string) (Identity, error) {
	rest, ok := strings.CutPrefix(user, serviceAccountPrefix)
	ns, sa, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || !validLabel(ns) || !validLabel(sa) {
		return Identity{}, fmt.Errorf("token user %q is not a ServiceAccount (want %s<namespace>:<name>)", user, serviceAccountPrefix)
	}
	return Identity{Via: ViaToken, Subject: user, Namespace: ns}, nil
}

// validLabel accepts the names Kubernetes gives namespaces, ServiceAccounts
// and workloads: non-empty, at most 253 characters, no '/', ':' or space.
func validLabel(s string) bool {
	return s != "" && len(s) <= 253 && !strings.ContainsAny(s, "/: \t\n")
}

// errNoIdentity is a stream that proved no identity where one is required.
var errNoIdentity = errors.New("no client certificate or bearer token")
