package learntest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a certificate for names, its own root, and returns its
// PEM and the key's PEM.
func selfSigned(t *testing.T, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
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

// client sends requests through an ambassador's forward door, one
// connection per request, so that each request (and each CONNECT tunnel)
// is over when its call returns.
type client struct {
	forward string // HOST:PORT of the forward door
	roots   *x509.CertPool
}

// do sends one request for rawURL and returns the status the app sees:
// for http, an absolute-form GET; for https, a CONNECT to the URL's host
// and port and, when the tunnel opens, a GET over TLS inside it (the
// status is then the upstream's).
func (c *client) do(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", c.forward, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitLimit))
	br := bufio.NewReader(conn)
	if u.Scheme == "http" {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", rawURL, u.Host)
		return readStatus(t, rawURL, br, "GET")
	}
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host, u.Host)
	if code := readStatus(t, "CONNECT "+u.Host, br, "CONNECT"); code != http.StatusOK {
		return code
	}
	if br.Buffered() > 0 {
		t.Fatalf("CONNECT %s: %d bytes after the 200, before the TLS handshake", u.Host, br.Buffered())
	}
	tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), RootCAs: c.roots})
	fmt.Fprintf(tc, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", u.RequestURI(), u.Host)
	code := readStatus(t, rawURL+" (in the tunnel)", bufio.NewReader(tc), "GET")
	tc.Close()
	return code
}

// readStatus reads one response, drains its body and returns its status.
func readStatus(t *testing.T, what string, br *bufio.Reader, method string) int {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	if method != "CONNECT" || resp.StatusCode != http.StatusOK {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("%s: body: %v", what, err)
		}
	}
	return resp.StatusCode
}

// hostOf is the host:port a URL names, the default port filled in.
func hostOf(rawURL string) string {
	u, _ := url.Parse(rawURL)
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}

// methodOf is the method the forward door sees for a URL.
func methodOf(rawURL string) string {
	if strings.HasPrefix(rawURL, "https:") {
		return "CONNECT"
	}
	return "GET"
}
