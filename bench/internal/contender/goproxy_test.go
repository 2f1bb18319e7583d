package contender

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestGoProxyForwardsToData builds cmd/goproxy and checks that it serves
// the upstream's /data at /api, as the other reverse proxies do.
func TestGoProxyForwardsToData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/goproxy")
	}
	bin, err := BuildGoProxy(context.Background(), "../..", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		_, _ = io.WriteString(w, strings.Repeat("x", 1024))
	}))
	defer up.Close()
	inst := startForTest(t, GoProxy{Binary: bin}, up.Listener.Addr().String())
	if err := inst.WaitReady(context.Background(), 1024, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 || paths[0] != UpstreamPath {
		t.Errorf("upstream saw paths %q, want %s", paths, UpstreamPath)
	}
}
