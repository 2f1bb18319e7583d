package contender

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAmbassadorDoors drives the real ambassador binary through both doors
// the benchmark uses, and checks that a destination outside its route table
// is refused (the benchmark must measure an enforcing proxy). It is skipped
// while cmd/ambassador does not build.
func TestAmbassadorDoors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the ambassador")
	}
	bin, err := BuildAmbassador(context.Background(), "../../..", t.TempDir())
	if err != nil {
		t.Skipf("ambassador not buildable yet: %v", err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 1024))
	}))
	defer up.Close()

	for _, door := range []Door{MappingDoor, ForwardDoor} {
		a := Ambassador{Binary: bin, Door: door}
		t.Run(a.Name(), func(t *testing.T) {
			inst := startForTest(t, a, up.Listener.Addr().String())
			if err := inst.WaitReady(context.Background(), 1024, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			if door != ForwardDoor {
				return
			}
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(inst.Target.Proxy)}}
			other := fmt.Sprintf("http://%s/data", up.Listener.Addr())
			resp, err := client.Get(other)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("GET %s (no route, no egress rule): status %d, want 403", other, resp.StatusCode)
			}
		})
	}
}
