package capturetest

// The suite: one pod with the capture installed and the ambassador ready,
// one world with its servers, and the checks the cases share.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

type suite struct {
	tp      *topology
	bins    *binaries
	world   *worldHelper
	amb     *ambassador
	certPEM string
	before  string // the pod's ruleset before init
	markers atomic.Int64
}

// captureTable allows allowed.test by name on the HTTP and TLS ports and
// the allowed host's addresses (only) on the echo port.
func (tp *topology) captureTable() string {
	return fmt.Sprintf(`apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: capture}
spec:
  egress:
    - {name: allowed-web, host: allowed.test, ports: [%d, %d, %d]}
    - {name: echo-by-address, cidrs: [%s/32, %s/128], ports: [%d]}
`, httpPort, altPort, tlsPort, tp.allowed.v4, tp.allowed.v6, echoPort)
}

// newSuite builds the topology, starts the world, installs the capture,
// starts the ambassador as the proxy user and waits for /readyz.
func newSuite(t *testing.T) *suite {
	t.Helper()
	testnet.RequireNetns(t, "ip", "nft", "setpriv")
	s := &suite{tp: newTopology(t), bins: buildBinaries(t)}
	certPEM, keyPEM := selfSigned(t, "allowed.test")
	s.certPEM = string(certPEM)
	s.world = s.tp.startWorld(s.bins, certPEM, keyPEM)
	s.before = s.tp.ruleset(t)
	s.tp.initCapture(t, s.bins)
	s.amb = s.tp.startAmbassador(s.bins, proxyUID, s.tp.captureTable())
	if r := s.readyz(t, http.StatusOK, ""); r.Status != http.StatusOK {
		t.Fatalf("ambassador not ready within %s: %+v", actionWait, r)
	}
	return s
}

// readyz polls /readyz from inside the pod (as the app) until it answers
// status with a body containing body, and returns the last answer.
func (s *suite) readyz(t *testing.T, status int, body string) result {
	t.Helper()
	return s.tp.runClient(t, s.bins, appUID, action{Kind: "readyz", Addr: adminAddr, WantStatus: status, WantBody: body})
}

// app runs a as the app's user.
func (s *suite) app(t *testing.T, a action) result {
	t.Helper()
	return s.tp.runClient(t, s.bins, appUID, a)
}

// selfSigned returns a certificate for name that is its own root.
func selfSigned(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// --- audit checks ---

// sameAddrPort compares two ip:port strings as addresses, so that
// "[2001:db8::14]:80" and an unbracketed or zoned rendering agree.
func sameAddrPort(got, want string) bool {
	g, err1 := netip.ParseAddrPort(got)
	w, err2 := netip.ParseAddrPort(want)
	return err1 == nil && err2 == nil && g.Addr().Unmap() == w.Addr().Unmap() && g.Port() == w.Port()
}

// toDst matches transparent-door lines whose original destination is dst
// (and, when path is set, whose URL contains it).
func toDst(dst, path string) func(auditLine) bool {
	return func(l auditLine) bool {
		return l.str("door") == "transparent" && sameAddrPort(l.str("original_dst"), dst) &&
			(path == "" || strings.Contains(l.str("url"), path))
	}
}

// checkLine asserts fields of an audit line: exact values for want, and
// a substring for the reason.
func checkLine(t *testing.T, l auditLine, want map[string]string, reason string) {
	t.Helper()
	for k, v := range want {
		if got := fmt.Sprint(l[k]); got != v {
			t.Errorf("audit %s = %q, want %q; line: %s", k, got, v, l)
		}
	}
	if !strings.Contains(l.str("reason"), reason) {
		t.Errorf("audit reason %q, want it to say %q; line: %s", l.str("reason"), reason, l)
	}
}

// checkForbidden asserts a 403 whose reason header names want and whose
// body carries the reason.
func checkForbidden(t *testing.T, r result, want string) {
	t.Helper()
	if r.Status != http.StatusForbidden {
		t.Fatalf("got %+v, want 403", r)
	}
	if !strings.Contains(r.Reason, want) || !strings.Contains(r.Body, r.Reason) {
		t.Errorf("reason header %q, body %q; want the reason in both, saying %q", r.Reason, r.Body, want)
	}
}

// --- absence, proved with a barrier ---

// markerPrefix starts every byte string a marker sends; nothing else may
// ever reach the decoy.
const markerPrefix = "capturetest-marker-"

// decoyGotNothing proves that no attack so far reached the decoy at
// addrs: see decoyBeforeMarkers.
func (s *suite) decoyGotNothing(t *testing.T, udp bool, addrs ...string) {
	t.Helper()
	for _, g := range s.decoyBeforeMarkers(t, udp, addrs...) {
		t.Errorf("the decoy received %q: the capture let it through", g)
	}
}

// decoyBeforeMarkers sends a marker to each given decoy address (TCP, or
// UDP when udp is set) from the pod as the proxy user, which the capture
// exempts, so the marker takes the path a leaked connection would have
// taken, after it. Once every marker has arrived, anything the attacks had
// put on the wire has arrived too; it returns what reached the decoy that
// is not a marker.
func (s *suite) decoyBeforeMarkers(t *testing.T, udp bool, addrs ...string) []string {
	t.Helper()
	want := map[string]bool{}
	kind := "tcp"
	if udp {
		kind = "udp"
	}
	for _, addr := range addrs {
		m := fmt.Sprintf("%s%d", markerPrefix, s.markers.Add(1))
		want[m] = true
		if r := s.tp.runClient(t, s.bins, proxyUID, action{Kind: kind, Addr: addr, Payload: m}); r.Err != "" {
			t.Fatalf("marker to %s as the proxy user: %s", addr, r.Err)
		}
	}
	for deadline := time.Now().Add(stateWait); ; time.Sleep(20 * time.Millisecond) {
		got := s.decoyRecords(s.world.report(t), udp)
		for _, g := range got {
			delete(want, g)
		}
		if len(want) == 0 {
			var leaked []string
			for _, g := range got {
				if !strings.HasPrefix(g, markerPrefix) {
					leaked = append(leaked, g)
				}
			}
			return leaked
		}
		if time.Now().After(deadline) {
			t.Fatalf("markers %v did not reach the decoy within %s; the decoy holds %q", want, stateWait, got)
		}
	}
}

// decoyRecords returns what each decoy connection (or datagram to a
// decoy address) carried, in arrival order.
func (s *suite) decoyRecords(rep worldReport, udp bool) []string {
	var out []string
	if !udp {
		for _, c := range rep.Decoy {
			out = append(out, string(c.Data))
		}
		return out
	}
	for _, d := range rep.Datagrams {
		if a, err := netip.ParseAddrPort(d.Local); err == nil && (a.Addr() == s.tp.decoy.v4 || a.Addr() == s.tp.decoy.v6) {
			out = append(out, string(d.Data))
		}
	}
	return out
}
