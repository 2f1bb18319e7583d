package contender

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSquidAllowsOnlyTheUpstream checks squid is the allowlisting forward
// proxy the comparison claims: the upstream passes, any other name or port
// is refused.
func TestSquidAllowsOnlyTheUpstream(t *testing.T) {
	bin := lookPeer(t, "squid")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 1024))
	}))
	defer up.Close()
	inst := startForTest(t, Squid{Binary: bin}, up.Listener.Addr().String())
	if err := inst.WaitReady(context.Background(), 1024, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	_, upPort, _ := net.SplitHostPort(up.Listener.Addr().String())
	otherPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(inst.Target.Proxy)}}
	tests := []struct {
		name string
		url  string
		want int
	}{
		{name: "the upstream", url: inst.Target.URL, want: http.StatusOK},
		{name: "the upstream's name on another port", url: fmt.Sprintf("http://%s:%d/data", squidUpstreamName, otherPort), want: http.StatusForbidden},
		{name: "the upstream's address by IP", url: fmt.Sprintf("http://127.0.0.1:%s/data", upPort), want: http.StatusForbidden},
		{name: "another name", url: fmt.Sprintf("http://other.bench:%s/data", upPort), want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("GET %s via squid: status %d, want %d", tt.url, resp.StatusCode, tt.want)
			}
		})
	}
}

func lookPeer(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/" + name, "/usr/bin/" + name} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("%s not installed (bin/meshbench -install-only installs it)", name)
	return ""
}

func startForTest(t *testing.T, c Contender, upstream string) *Instance {
	t.Helper()
	dir := t.TempDir()
	// squid drops root and must reach its directory through these.
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	_ = os.Chmod(dir, 0o755)
	env := Env{Dir: dir, Upstream: upstream, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	inst, err := c.Start(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(); err != nil {
			t.Error(err)
		}
	})
	return inst
}
