package harness

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/meshlite/meshlite/bench/internal/contender"
	"github.com/meshlite/meshlite/bench/internal/load"
	"github.com/meshlite/meshlite/bench/internal/procstat"
	"github.com/meshlite/meshlite/bench/internal/report"
)

// Config holds the load shape shared by every contender.
type Config struct {
	Rate        int           // open-loop requests per second
	Connections int           // connections (and closed-loop workers)
	Duration    time.Duration // each measured run
	Warmup      time.Duration // open-loop warm-up before measuring; 0 = none
	ProxyCPU    string        // taskset CPU list for the proxies; "" = unpinned
	TempDir     string        // parent of the contenders' private directories
	Log         *slog.Logger
	// CPURate is the second, fixed open-loop rate at which the proxy's CPU
	// per request is measured (after the closed-loop run);
	// 0 = no such run. CPUDuration is its length; 0 = Duration.
	CPURate     int
	CPUDuration time.Duration
}

// readyTimeout bounds how long a contender may take to answer its first GET.
const readyTimeout = 15 * time.Second

// Measure starts c, loads it open-loop at cfg.Rate, closed-loop, then
// open-loop at cfg.CPURate if set, reads its process costs and stops it. A contender that cannot start or answer is returned
// as a skipped row, not an error: the other contenders still run.
func Measure(ctx context.Context, cfg Config, up *Upstream, c contender.Contender) report.Row {
	row := report.Row{Name: c.Name(), Description: c.Describe(), CPUPer1kOpen: -1, CPUPer1kFixed: -1, CPUPer1kClosed: -1, LogLines: -1, OtherCPU: -1}
	dir, err := os.MkdirTemp(cfg.TempDir, c.Name()+"-")
	if err != nil {
		row.Skipped = err.Error()
		return row
	}
	_ = os.Chmod(dir, 0o755)
	env := contender.Env{Dir: dir, Upstream: up.Addr, CPU: cfg.ProxyCPU, Log: cfg.Log, ServeUpstream: up.ServeOn}
	inst, err := c.Start(ctx, env)
	if err != nil {
		row.Skipped = err.Error()
		return row
	}
	defer func() {
		began := time.Now()
		if err := inst.Stop(); err != nil {
			cfg.Log.Warn("stop failed", "contender", c.Name(), "err", err)
		}
		cfg.Log.Debug("stopped", "contender", c.Name(), "took", time.Since(began))
	}()
	began := time.Now()
	if err := inst.WaitReady(ctx, BodyBytes, readyTimeout); err != nil {
		row.Skipped = err.Error()
		return row
	}
	cfg.Log.Debug("ready", "contender", c.Name(), "took", time.Since(began))
	if err := measureLoads(ctx, cfg, inst, &row); err != nil {
		row.Skipped = err.Error()
		return row
	}
	if inst.LogFile != "" {
		row.LogLines = countLines(inst.LogFile)
	}
	return row
}

func measureLoads(ctx context.Context, cfg Config, inst *contender.Instance, row *report.Row) error {
	spec := load.Spec{URL: inst.Target.URL, Proxy: inst.Target.Proxy, Dial: inst.Target.Dial, Rate: cfg.Rate, Connections: cfg.Connections}
	if cfg.Warmup > 0 {
		spec.Duration = cfg.Warmup
		if _, err := load.Run(ctx, spec); err != nil {
			return err
		}
	}
	spec.Duration = cfg.Duration
	var other otherWork
	cpu, open, err := runMeasured(ctx, inst.PID, spec, &other)
	if err != nil {
		return err
	}
	row.Open, row.CPUPer1kOpen = open, cpu
	if row.PeakRSSOpen, err = peakRSS(inst.PID); err != nil {
		return fmt.Errorf("harness: %s: %w", row.Name, err)
	}
	cfg.Log.Info("open loop done", "contender", row.Name, "p50", open.Latency.P50, "p99", open.Latency.P99, "errors", open.Errors)

	spec.Rate = 0
	cpu, closed, err := runMeasured(ctx, inst.PID, spec, &other)
	if err != nil {
		return err
	}
	row.Closed, row.CPUPer1kClosed = closed, cpu
	cfg.Log.Info("closed loop done", "contender", row.Name, "rps", int(closed.Throughput), "errors", closed.Errors)
	if row.PeakRSS, err = peakRSS(inst.PID); err != nil {
		return fmt.Errorf("harness: %s: %w", row.Name, err)
	}

	if cfg.CPURate > 0 {
		// The fixed-rate run: the same open loop at a higher, moderate
		// rate, for the CPU per request below saturation. It comes last, so
		// that a contender the rate overloads (open loop: requests pile up
		// until they time out) cannot disturb the figures of the other runs.
		fixed := spec
		fixed.Rate = cfg.CPURate
		if cfg.CPUDuration > 0 {
			fixed.Duration = cfg.CPUDuration
		}
		cpu, res, err := runMeasured(ctx, inst.PID, fixed, &other)
		if err != nil {
			return err
		}
		row.Fixed, row.CPUPer1kFixed = res, cpu
		cfg.Log.Info("fixed rate done", "contender", row.Name, "rate", cfg.CPURate, "cpu_s_per_1k", cpu,
			"sent", res.Requests, "scheduled", res.Scheduled, "errors", res.Errors)
	}
	row.OtherCPU = other.share()
	return nil
}

// peakRSS is procstat.PeakRSS, or 0 when there is no proxy process.
func peakRSS(pid int) (int64, error) {
	if pid <= 0 {
		return 0, nil
	}
	return procstat.PeakRSS(pid)
}

// runMeasured runs spec and returns the CPU seconds the process tree of pid
// used per 1,000 requests (-1 when pid is 0), and adds to other the CPU time
// that processes outside this benchmark used meanwhile.
func runMeasured(ctx context.Context, pid int, spec load.Spec, other *otherWork) (float64, load.Result, error) {
	var before time.Duration
	if pid > 0 {
		var err error
		if before, err = procstat.CPU(pid); err != nil {
			return 0, load.Result{}, err
		}
	}
	other.start()
	res, err := load.Run(ctx, spec)
	other.stop()
	if err != nil {
		return 0, res, err
	}
	if pid == 0 {
		return -1, res, nil
	}
	after, err := procstat.CPU(pid)
	if err != nil {
		return 0, res, err
	}
	if res.Requests == 0 {
		return 0, res, fmt.Errorf("harness: no requests completed")
	}
	return (after - before).Seconds() * 1000 / float64(res.Requests), res, nil
}

// otherWork measures how much of the machine user-space processes outside
// this benchmark (this process and its children) used: on a shared machine
// that is the noise in the numbers.
type otherWork struct {
	others0   time.Duration
	began     time.Time
	busy, cap time.Duration
	cpus      int
}

func (o *otherWork) start() {
	if m, err := procstat.ReadMachine(); err == nil {
		o.cpus = m.CPUs
	}
	o.others0 = procstat.Others(os.Getpid())
	o.began = time.Now()
}

func (o *otherWork) stop() {
	if o.cpus == 0 {
		return
	}
	o.busy += max(0, procstat.Others(os.Getpid())-o.others0)
	o.cap += time.Since(o.began) * time.Duration(o.cpus)
}

// share is the fraction of the machine's CPU capacity used by other work.
func (o *otherWork) share() float64 {
	if o.cap <= 0 {
		return -1
	}
	return o.busy.Seconds() / o.cap.Seconds()
}

// countLines returns the number of lines in path, or -1 if unreadable.
func countLines(path string) int {
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	return n
}
