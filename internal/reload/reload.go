// Package reload keeps values read from files current: TLS key pairs, CA
// bundles and bearer tokens mounted from Kubernetes Secrets or projected
// volumes, which the kubelet swaps in place on rotation.
//
// A File re-reads its files when the size or modification time of any of
// them changes, checked at most once a second and only when the value is
// asked for. A new version that fails to load is logged and the previous
// value kept, so a half-written rotation never takes a listener down; the
// next change is tried again.
package reload

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// checkEvery is the shortest time between two looks at the files.
const checkEvery = time.Second

// File is a value loaded from one or more files and re-loaded when they
// change. Safe for concurrent use.
type File[T any] struct {
	what  string // for log lines: "xds certificate"
	paths []string
	load  func() (T, error)
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	value   T
	stamps  []stamp // of the files last loaded (or last tried)
	checked time.Time
}

type stamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{fi.Size(), fi.ModTime()}
}

// New loads the value now (an error stops the caller's start) and returns
// a File that re-loads it when any of paths changes. what names the value
// in errors and log lines; log may be nil.
func New[T any](what string, log *slog.Logger, load func() (T, error), paths ...string) (*File[T], error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &File[T]{what: what, paths: paths, load: load, log: log, now: time.Now}
	f.stamps = f.stampAll()
	v, err := load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	f.value, f.checked = v, f.now()
	return f, nil
}

func (f *File[T]) stampAll() []stamp {
	out := make([]stamp, len(f.paths))
	for i, p := range f.paths {
		out[i] = stampOf(p)
	}
	return out
}

// Get returns the current value, re-loading it first if a file changed.
func (f *File[T]) Get() T {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.checked) < checkEvery {
		return f.value
	}
	f.checked = now
	st := f.stampAll()
	if equalStamps(st, f.stamps) {
		return f.value
	}
	f.stamps = st // a failed load is retried on the next change, not on every call
	v, err := f.load()
	if err != nil {
		f.log.Error("reload: new "+f.what+" not loaded; keeping the previous one", "files", f.paths, "error", err)
		return f.value
	}
	f.value = v
	f.log.Info("reload: "+f.what+" reloaded", "files", f.paths)
	return f.value
}

func equalStamps(a, b []stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// KeyPair is a PEM certificate and key, re-read on change. Its methods fit
// tls.Config.GetCertificate and GetClientCertificate.
type KeyPair struct{ f *File[*tls.Certificate] }

// NewKeyPair loads certFile and keyFile.
func NewKeyPair(what, certFile, keyFile string, log *slog.Logger) (*KeyPair, error) {
	f, err := New(what, log, func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("certificate %s, key %s: %w", certFile, keyFile, err)
		}
		return &c, nil
	}, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &KeyPair{f}, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.f.Get(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate.
func (k *KeyPair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.f.Get(), nil
}

// CertPool is a PEM bundle of CA certificates, re-read on change.
type CertPool struct{ f *File[*x509.CertPool] }

// NewCertPool loads the bundle in path; a file without a certificate is
// an error.
func NewCertPool(what, path string, log *slog.Logger) (*CertPool, error) {
	f, err := New(what, log, func() (*x509.CertPool, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no PEM certificate in it", path)
		}
		return pool, nil
	}, path)
	if err != nil {
		return nil, err
	}
	return &CertPool{f}, nil
}

// Pool returns the current pool.
func (p *CertPool) Pool() *x509.CertPool { return p.f.Get() }

// Token is a bearer token in a file (a projected ServiceAccount token),
// re-read on change; surrounding white space is removed.
type Token struct{ f *File[string] }

// NewToken loads the token in path; an empty file is an error.
func NewToken(what, path string, log *slog.Logger) (*Token, error) {
	f, err := New(what, log, func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("%s is empty", path)
		}
		return tok, nil
	}, path)
	if err != nil {
		return nil, err
	}
	return &Token{f}, nil
}

// Value returns the current token.
func (t *Token) Value() string { return t.f.Get() }
