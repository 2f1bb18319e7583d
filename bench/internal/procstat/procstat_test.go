package procstat

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		wantPPID int
		wantCPU  time.Duration
		wantErr  bool
	}{
		{
			name:     "plain command name",
			raw:      "42 (nginx) S 7 42 42 0 -1 4194560 100 0 0 0 150 50 3 2 20 0 1 0 10 1000 100",
			wantPPID: 7, wantCPU: (150 + 50 + 3 + 2) * clockTick,
		},
		{
			name:     "command name with spaces and parentheses",
			raw:      "43 (squid (kid) 1) R 1 43 43 0 -1 0 0 0 0 0 10 20 0 0 20 0 1 0 10 1000 100",
			wantPPID: 1, wantCPU: 30 * clockTick,
		},
		{name: "no command field", raw: "44 nginx S 1", wantErr: true},
		{name: "truncated", raw: "45 (x) S 1 2 3", wantErr: true},
		{name: "non-numeric times", raw: "46 (x) S 1 0 0 0 0 0 0 0 0 0 a b c d", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := parseStat(1, []byte(tt.raw))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (st.ppid != tt.wantPPID || st.cpu != tt.wantCPU) {
				t.Fatalf("got ppid %d cpu %s, want %d %s", st.ppid, st.cpu, tt.wantPPID, tt.wantCPU)
			}
		})
	}
}

func TestTreeFindsChild(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()

	tree := Tree(os.Getpid())
	if tree[0] != os.Getpid() || !slices.Contains(tree, child.Process.Pid) {
		t.Fatalf("Tree(%d) = %v, want self first and child %d in it", os.Getpid(), tree, child.Process.Pid)
	}
}

func TestOwnProcessCosts(t *testing.T) {
	deadline := time.Now().Add(2 * time.Second)
	for x := 0; time.Now().Before(deadline); x++ { // burn > 1 tick of CPU
		if x%1_000_000 == 0 {
			if cpu, _ := CPU(os.Getpid()); cpu >= 2*clockTick {
				break
			}
		}
	}
	cpu, err := CPU(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("CPU(self) = %s, %v; want > 0", cpu, err)
	}
	rss, err := PeakRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("PeakRSS(self) = %d, %v; want at least 1 MiB", rss, err)
	}
}

func TestMissingProcess(t *testing.T) {
	if _, err := CPU(1 << 30); err == nil {
		t.Fatal("CPU of a pid that cannot exist: want error")
	}
	if _, err := PeakRSS(1 << 30); err == nil {
		t.Fatal("PeakRSS of a pid that cannot exist: want error")
	}
}

func TestParseMachine(t *testing.T) {
	raw := "cpu  100 5 50 1000 7 3 2 1 0 0\ncpu0 50 0 25 500 0 0 0 0 0 0\ncpu1 50 5 25 500 7 3 2 1 0 0\nintr 1 2\n"
	m, err := parseMachine(raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := (100 + 5 + 50 + 3 + 2 + 1) * clockTick; m.Busy != want || m.CPUs != 2 {
		t.Fatalf("got busy %s over %d CPUs, want %s over 2 (idle and iowait excluded)", m.Busy, m.CPUs, want)
	}
	for _, bad := range []string{"", "intr 1 2\n", "cpu 1 2 3\ncpu0 1 2 3\n", "cpu a 0 0 0 0 0 0 0\ncpu0\n"} {
		if _, err := parseMachine(bad); err == nil {
			t.Errorf("parseMachine(%q): want error", bad)
		}
	}
}

func TestOthersCountsAnotherProcess(t *testing.T) {
	// A busy process that is not our child: started through sh, which
	// exits at once, so the burner is re-parented away from our tree.
	out, err := exec.Command("sh", "-c", "(timeout 3 sh -c 'while :; do :; done' &) ; echo started").Output()
	if err != nil || string(out) != "started\n" {
		t.Skipf("cannot start a burner: %v %q", err, out)
	}
	before := Others(os.Getpid())
	time.Sleep(time.Second)
	if got := Others(os.Getpid()) - before; got < 2*clockTick {
		t.Fatalf("Others grew by %s while another process burned CPU for 1 s, want more", got)
	}
}
