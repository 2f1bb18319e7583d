// Package propagation measures how fast a route table edit reaches many
// ambassadors: N simulated ambassadors (the ambassador's own xDS client,
// one gRPC connection each) subscribe to one control plane run as a child
// process over a ConfigMap-style directory; an edit is made by the atomic
// "..data" swap a pod sees, and the time from the swap to each ambassador's
// apply-and-ACK is recorded, with the control plane's CPU and memory.
package propagation

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Config describes one run. Zero values are useful except Clients and
// ControlPlane.
type Config struct {
	// Clients is the number of simulated ambassadors (N).
	Clients int
	// PerWorkload is how many ambassadors share a workload (replicas of a
	// deployment); the run has Clients/PerWorkload tables. 0 means 10.
	PerWorkload int
	// Rounds is how many measured edits each scenario makes, after one
	// unmeasured warm-up edit. 0 means 5.
	Rounds int
	// ControlPlane is the controlplane binary.
	ControlPlane string
	// WorkDir holds the route directory and the control plane's log; ""
	// means a new temporary directory, removed afterwards.
	WorkDir string
	// Timeout bounds every wait; 0 means 3 minutes.
	Timeout time.Duration
	// Settle is the pause before and after each edit, so that the
	// directory events of preparing and cleaning up are not timed; 0
	// means 500ms.
	Settle time.Duration
	// Batch is how many ambassadors dial at once; 0 means 500.
	Batch int
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// ControlPlaneFlags are the flags the control plane runs with besides its
// addresses and directory: its defaults, with the connection cap raised
// above N. One ambassador is one connection with one stream, so the
// per-connection stream cap does not apply.
func ControlPlaneFlags(clients int) []string {
	return []string{"--max-connections", strconv.Itoa(clients + 1000), "--log-level", "info"}
}

func (c Config) withDefaults() Config {
	if c.PerWorkload <= 0 {
		c.PerWorkload = 10
	}
	if c.Rounds <= 0 {
		c.Rounds = 5
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Minute
	}
	if c.Settle <= 0 {
		c.Settle = 500 * time.Millisecond
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// Run performs both scenarios for one N and returns the measurements.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if cfg.Clients < cfg.PerWorkload || cfg.Clients%cfg.PerWorkload != 0 {
		return nil, fmt.Errorf("propagation: %d clients cannot be split into workloads of %d", cfg.Clients, cfg.PerWorkload)
	}
	work := cfg.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "meshlite-propagation-")
		if err != nil {
			return nil, fmt.Errorf("propagation: %w", err)
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	r := &runner{cfg: cfg, harness0: harnessCPU(), res: &Result{Clients: cfg.Clients, PerWorkload: cfg.PerWorkload,
		Workloads: cfg.Clients / cfg.PerWorkload, Rounds: cfg.Rounds}}
	defer r.close()
	if err := r.setUp(ctx, work); err != nil {
		return nil, err
	}
	if err := r.scenarios(); err != nil {
		return nil, err
	}
	return r.res, r.finish()
}

// runner holds one run's moving parts.
type runner struct {
	cfg   Config
	res   *Result
	cm    *configMap
	cp    *controlPlane
	fleet *fleet
	acked int64 // the control plane's ACK count after the last step
	// harness0 is this process's CPU time when the run began.
	harness0 float64
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "propagation: N=%d: "+format+"\n", append([]any{r.cfg.Clients}, args...)...)
}

// setUp writes the tables, starts the control plane and connects the fleet.
func (r *runner) setUp(ctx context.Context, work string) error {
	routesDir := filepath.Join(work, "routes")
	if err := os.MkdirAll(routesDir, 0o755); err != nil {
		return fmt.Errorf("propagation: %w", err)
	}
	names := make([]string, r.res.Workloads)
	for i := range names {
		names[i] = fmt.Sprintf("w-%05d", i)
	}
	var err error
	if r.cm, err = newConfigMap(routesDir, names); err != nil {
		return err
	}
	r.res.ControlPlaneFlags = ControlPlaneFlags(r.cfg.Clients)
	r.cp, err = startControlPlane(r.cfg.ControlPlane, routesDir, filepath.Join(work, "controlplane.log"), r.res.ControlPlaneFlags, r.cfg.Timeout)
	if err != nil {
		return err
	}
	r.logf("control plane pid %d on %s, %d tables", r.cp.cmd.Process.Pid, r.cp.xds, len(names))
	if r.fleet, err = newFleet(r.cp.xds, names, r.cfg.PerWorkload); err != nil {
		return err
	}
	return r.connect(ctx)
}

// connect dials the fleet and measures the control plane meanwhile.
func (r *runner) connect(ctx context.Context) error {
	cpu0, err := r.cp.cpuSeconds()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := r.fleet.start(ctx, r.cfg.Batch, r.cfg.Timeout); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(r.cp.log, 10))
	}
	if err := r.waitACKs(int64(r.cfg.Clients)); err != nil {
		return err
	}
	r.res.Connect.Duration = time.Since(start)
	if r.res.Connect.CPUSeconds, err = r.cpuSince(cpu0); err != nil {
		return err
	}
	time.Sleep(r.cfg.Settle)
	if r.res.Connect.RSSBytes, _, err = r.cp.memory(); err != nil {
		return err
	}
	r.logf("%d ambassadors connected and in sync in %s; control plane CPU %.2fs, RSS %s",
		r.cfg.Clients, r.res.Connect.Duration.Round(time.Millisecond), r.res.Connect.CPUSeconds, mib(r.res.Connect.RSSBytes))
	return nil
}

// waitACKs waits until the control plane has counted n more ACKs.
func (r *runner) waitACKs(n int64) error {
	var got int64
	err := waitFor(r.cfg.Timeout, func() bool {
		var err error
		got, err = r.cp.acks()
		return err == nil && got >= r.acked+n
	})
	if err != nil {
		return fmt.Errorf("propagation: control plane counted %d of %d ACKs: %w", got-r.acked, n, err)
	}
	r.acked = got
	return nil
}

func (r *runner) cpuSince(before float64) (float64, error) {
	now, err := r.cp.cpuSeconds()
	return now - before, err
}

// scenarios runs (a) one workload's table changing, then (b) every table
// changing.
func (r *runner) scenarios() error {
	one := Scenario{Name: ScenarioOne, Updated: r.cfg.PerWorkload}
	for round := range r.cfg.Rounds + 1 {
		w := (round * 7919) % r.res.Workloads // a different workload each time
		if err := r.measure(&one, []int{w}, round == 0); err != nil {
			return err
		}
	}
	all := Scenario{Name: ScenarioAll, Updated: r.cfg.Clients}
	every := make([]int, r.res.Workloads)
	for i := range every {
		every[i] = i
	}
	for round := range r.cfg.Rounds + 1 {
		if err := r.measure(&all, every, round == 0); err != nil {
			return err
		}
	}
	one.summarize()
	all.summarize()
	r.res.Scenarios = []Scenario{one, all}
	return nil
}

// measure makes one edit of the tables in changed and records, unless it
// is the warm-up, every affected ambassador's latency and the control
// plane's CPU time.
func (r *runner) measure(s *Scenario, changed []int, warmUp bool) error {
	stamp, err := r.cm.prepare(changed)
	if err != nil {
		return err
	}
	time.Sleep(r.cfg.Settle)
	var affected []*sim
	for _, w := range changed {
		affected = append(affected, r.fleet.byWorkload[w]...)
	}
	applied, applies := r.fleet.applied.Load(), r.fleet.applies.Load()
	cpu0, err := r.cp.cpuSeconds()
	if err != nil {
		return err
	}
	t0, old, err := r.cm.swap(stamp)
	if err != nil {
		return err
	}
	want := applied + int64(len(affected))
	if err := waitFor(r.cfg.Timeout, func() bool { return r.fleet.applied.Load() >= want }); err != nil {
		return fmt.Errorf("propagation: %s: %d of %d ambassadors applied the edit: %w\n%s",
			s.Name, r.fleet.applied.Load()-applied, len(affected), err, tail(r.cp.log, 10))
	}
	if err := r.waitACKs(int64(len(affected))); err != nil {
		return err
	}
	cpu, err := r.cpuSince(cpu0)
	if err != nil {
		return err
	}
	time.Sleep(r.cfg.Settle)
	if err := r.cm.remove(old); err != nil {
		return err
	}
	round := Round{CPUSeconds: cpu, Extra: int(r.fleet.applies.Load()-applies) - len(affected)}
	for _, a := range affected {
		if g := r.cm.generation(a.workload); a.gen.Load() != int64(g) {
			return fmt.Errorf("propagation: %s: an ambassador of workload %d has generation %d, want %d", s.Name, a.workload, a.gen.Load(), g)
		}
		round.Latencies = append(round.Latencies, time.Duration(a.at.Load()-t0.UnixNano()))
	}
	round.summarize()
	r.logf("%s%s: last ACK %s after the swap, p50 %s; control plane CPU %.2fs",
		s.Name, map[bool]string{true: " (warm-up)"}[warmUp], round.Last, round.P50, cpu)
	if !warmUp {
		s.Rounds = append(s.Rounds, round)
	}
	return nil
}

// finish records the peak memory and the harness's own CPU time.
func (r *runner) finish() error {
	var err error
	_, r.res.PeakRSSBytes, err = r.cp.memory()
	if err != nil {
		return err
	}
	r.res.ControlPlaneCPUSeconds, err = r.cp.cpuSeconds()
	if err != nil {
		return err
	}
	r.res.HarnessCPUSeconds = harnessCPU() - r.harness0
	return nil
}

// harnessCPU is this process's user+system CPU time: the simulated
// ambassadors' share of the machine.
func harnessCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
}

func (r *runner) close() {
	if r.fleet != nil {
		r.fleet.stop()
	}
	if r.cp != nil {
		if err := r.cp.stop(); err != nil {
			r.logf("control plane stop: %v", err)
		}
	}
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
