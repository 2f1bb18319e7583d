package harness

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/bench/internal/contender"
	"github.com/meshlite/meshlite/bench/internal/peers"
)

func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	// squid drops root and must reach its directory through these.
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	_ = os.Chmod(dir, 0o755)
	return Config{
		Rate: 200, Connections: 4, Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond,
		CPURate: 400, CPUDuration: 200 * time.Millisecond,
		TempDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// TestMeasure loads every contender installed here for a fraction of a
// second and checks each answered every request and, for the proxies, that
// their process costs and logs were read.
func TestMeasure(t *testing.T) {
	up, err := StartUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	cfg := testConfig(t)

	tests := []struct {
		c      contender.Contender
		binary string // "" = no peer binary needed
	}{
		{c: contender.Direct{}},
		{c: contender.Nginx{Binary: peers.Lookup("nginx")}, binary: "nginx"},
		{c: contender.HAProxy{Binary: peers.Lookup("haproxy")}, binary: "haproxy"},
		{c: contender.Squid{Binary: peers.Lookup("squid")}, binary: "squid"},
	}
	for _, tt := range tests {
		t.Run(tt.c.Name(), func(t *testing.T) {
			if tt.binary != "" && peers.Lookup(tt.binary) == "" {
				t.Skipf("%s not installed (meshbench -install-only installs it)", tt.binary)
			}
			row := Measure(context.Background(), cfg, up, tt.c)
			if row.Skipped != "" {
				t.Fatalf("skipped: %s", row.Skipped)
			}
			if row.Open.Requests == 0 || row.Open.Errors != 0 || row.Closed.Requests == 0 || row.Closed.Errors != 0 {
				t.Fatalf("open %d requests / %d errors, closed %d / %d; samples %q %q", row.Open.Requests, row.Open.Errors,
					row.Closed.Requests, row.Closed.Errors, row.Open.ErrorSample, row.Closed.ErrorSample)
			}
			if row.Fixed.Scheduled != 80 || row.Fixed.Requests == 0 || row.Fixed.Errors != 0 {
				t.Fatalf("fixed-rate run: %d errors / %d sent / %d scheduled, want 80 scheduled and no errors; sample %q",
					row.Fixed.Errors, row.Fixed.Requests, row.Fixed.Scheduled, row.Fixed.ErrorSample)
			}
			if row.OtherCPU < 0 || row.OtherCPU > 1 {
				t.Fatalf("other CPU share %v outside [0,1]", row.OtherCPU)
			}
			if tt.binary == "" {
				if row.PeakRSS != 0 || row.CPUPer1kClosed != -1 || row.CPUPer1kFixed != -1 || row.LogLines != -1 {
					t.Fatalf("direct has no process: got rss %d cpu %v log %d", row.PeakRSS, row.CPUPer1kClosed, row.LogLines)
				}
				return
			}
			if row.PeakRSS <= 0 || row.CPUPer1kClosed < 0 || row.CPUPer1kFixed < 0 {
				t.Fatalf("proxy costs not read: rss %d, cpu/1k %v closed, %v fixed", row.PeakRSS, row.CPUPer1kClosed, row.CPUPer1kFixed)
			}
			if min := row.Open.Requests + row.Fixed.Requests + row.Closed.Requests; row.LogLines < min {
				t.Fatalf("log has %d lines, want at least one per measured request (%d)", row.LogLines, min)
			}
		})
	}
}

func TestMeasureSkipsAmbassadorThatCannotStart(t *testing.T) {
	up, err := StartUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	cfg := testConfig(t)
	bin := filepath.Join(cfg.TempDir, "ambassador")
	script := "#!/bin/sh\necho 'ambassador: unknown flag' >&2\nexit 2\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	row := Measure(context.Background(), cfg, up, contender.Ambassador{Binary: bin})
	if !strings.Contains(row.Skipped, "exited early") || !strings.Contains(row.Skipped, "unknown flag") {
		t.Fatalf("Skipped = %q, want the early exit and the binary's stderr", row.Skipped)
	}
}

func TestBuildAmbassadorWithoutSource(t *testing.T) {
	_, err := contender.BuildAmbassador(context.Background(), t.TempDir(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no cmd/ambassador") {
		t.Fatalf("err = %v, want it to say cmd/ambassador is missing", err)
	}
}

// TestUpstreamServeOn checks the extra listener serves the same answer and
// stops when closed, while the upstream's own address keeps serving.
func TestUpstreamServeOn(t *testing.T) {
	up, err := StartUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	l, err := up.ServeOn("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	get := func(addr string) (int, error) {
		resp, err := http.Get("http://" + addr + contender.UpstreamPath)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return len(body), err
	}
	if n, err := get(l.Addr().String()); err != nil || n != BodyBytes {
		t.Fatalf("GET on the extra listener: %d bytes, %v; want %d", n, err, BodyBytes)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	if _, err := get(l.Addr().String()); err == nil {
		t.Fatal("GET on the closed extra listener succeeded")
	}
	if n, err := get(up.Addr); err != nil || n != BodyBytes {
		t.Fatalf("GET on the upstream's own address after closing the extra one: %d bytes, %v", n, err)
	}
}
