package ambassador

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meshlite/meshlite/internal/testnet"
)

// TestRunDenyCIDRs: --deny-cidrs reaches the policy of the table Run loads,
// so a route whose target lies in a denied range is refused before any
// upstream call.
func TestRunDenyCIDRs(t *testing.T) {
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprint(w, "7")
	}))
	defer up.Close()
	cfg, door := testConfig(t, strings.ReplaceAll(table, "UPSTREAM", strings.TrimPrefix(up.URL, "http://")))
	cfg.DenyCIDRs = []string{"203.0.113.0/24", "127.0.0.0/8"}
	start(t, cfg, door)
	status, h, body := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/api", door))
	want := "127.0.0.1 is inside 127.0.0.0/8 from --deny-cidrs[1] (always denied"
	if status != http.StatusForbidden || !strings.Contains(h.Get("X-Meshlite-Reason"), want) {
		t.Fatalf("mapped call to a denied range: %d %q, reason %q; want 403 with %q", status, body, h.Get("X-Meshlite-Reason"), want)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("upstream called %d times", n)
	}
}

func TestRunRejectsBadDenyCIDRs(t *testing.T) {
	cfg, _ := testConfig(t, "")
	cfg.DenyCIDRs = []string{"10.0.0.1/8"}
	err := Run(context.Background(), cfg, &testnet.Buffer{}, &testnet.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `--deny-cidrs[0]: cidr "10.0.0.1/8" has host bits set`) {
		t.Fatalf("Run = %v, want the bad entry named", err)
	}
}
