package reload

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/meshlite/meshlite/internal/testnet"
	"github.com/meshlite/meshlite/internal/tlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func write(t *testing.T, path, data string, mod time.Time) {
	t.Helper()
	tlstest.WriteAtomic(t, path, []byte(data))
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func TestTokenIsReReadWhenTheFileChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	t0 := time.Unix(1_800_000_000, 0)
	write(t, path, "one\n", t0)
	log := &testnet.Buffer{}
	tok, err := NewToken("test token", path, testLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok.f.now = func() time.Time { return now }
	if got := tok.Value(); got != "one" {
		t.Fatalf("token = %q", got)
	}

	write(t, path, "two", t0.Add(time.Second))
	if got := tok.Value(); got != "one" {
		t.Fatalf("re-read %q before a second passed; want the files looked at at most once a second", got)
	}
	now = now.Add(time.Second)
	if got := tok.Value(); got != "two" {
		t.Fatalf("token after rotation = %q, want two", got)
	}

	write(t, path, "  \n", t0.Add(2*time.Second)) // a half-written rotation
	now = now.Add(time.Second)
	if got := tok.Value(); got != "two" {
		t.Fatalf("an empty file replaced the token: %q", got)
	}
	if !strings.Contains(log.String(), "keeping the previous one") {
		t.Errorf("the failed reload was not logged:\n%s", log)
	}
}

func TestMissingFilesStopTheStart(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewToken("t", filepath.Join(dir, "none"), nil); err == nil {
		t.Error("NewToken accepted a missing file")
	}
	if _, err := NewCertPool("ca", filepath.Join(dir, "none"), nil); err == nil {
		t.Error("NewCertPool accepted a missing file")
	}
	notPEM := filepath.Join(dir, "ca.pem")
	write(t, notPEM, "hello", time.Now())
	if _, err := NewCertPool("ca", notPEM, nil); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("NewCertPool of a file without certificates: %v", err)
	}
	if _, err := NewKeyPair("cert", notPEM, notPEM, nil); err == nil {
		t.Error("NewKeyPair accepted a file without a key pair")
	}
}

func TestKeyPairIsReReadWhenTheFilesChange(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	p := ca.Server(t, "server")
	kp, err := NewKeyPair("cert", p.Cert, p.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	kp.f.now = func() time.Time { return now }
	first, _ := kp.GetCertificate(nil)
	ca.Server(t, "server") // a new serial, same files
	for _, f := range []string{p.Cert, p.Key} {
		later := time.Now().Add(time.Minute)
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Second)
	second, _ := kp.GetClientCertificate(nil)
	if string(first.Certificate[0]) == string(second.Certificate[0]) {
		t.Fatal("the rotated certificate was not loaded")
	}
}

func testLogger(w *testnet.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
