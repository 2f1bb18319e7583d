// Command meshbench compares the meshlite ambassador with no proxy, nginx,
// haproxy and squid on loopback and writes the results under -out.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/meshlite/meshlite/bench/internal/contender"
	"github.com/meshlite/meshlite/bench/internal/harness"
	"github.com/meshlite/meshlite/bench/internal/report"
)

type options struct {
	name        string
	out         string
	only        string
	rate        int
	cpuRate     int
	cpuDuration time.Duration
	conns       int
	duration    time.Duration
	warmup      time.Duration
	mainModule  string
	command     string
	install     bool
	pin         bool
	niceness    int
	installOnly bool
	verbose     bool
	keep        bool
	quietWait   time.Duration
	retries     int
	render      string
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.name, "name", "quick", "results name: writes <out>/<name>.md, .json and charts")
	flag.StringVar(&o.out, "out", "results", "results directory")
	flag.StringVar(&o.only, "contenders", "", "comma-separated subset of: "+strings.Join(allNames, ","))
	flag.IntVar(&o.rate, "rate", 1000, "open-loop request rate (req/s)")
	flag.IntVar(&o.cpuRate, "cpu-rate", 5000, "second open-loop rate (req/s) at which the proxy's CPU per request is measured below saturation; 0 = no such run")
	flag.DurationVar(&o.cpuDuration, "cpu-duration", 0, "length of the -cpu-rate run (0 = -duration)")
	flag.IntVar(&o.conns, "connections", 16, "connections, and closed-loop workers")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measured run (open and closed loop)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "open-loop warm-up before measuring each contender")
	flag.StringVar(&o.mainModule, "main-module", "..", "root of the meshlite module that holds cmd/ambassador")
	flag.StringVar(&o.command, "command", "", "command line to record in the results (default: this invocation)")
	flag.BoolVar(&o.install, "install", true, "install missing peers with apt-get")
	flag.BoolVar(&o.pin, "pin", true, "pin proxies to CPU 0 and this process (load + upstream) to CPU 1")
	flag.IntVar(&o.niceness, "nice", 0, "run the harness and the proxies at this nice value (negative = ahead of other work on a shared machine; needs root)")
	flag.BoolVar(&o.installOnly, "install-only", false, "only install missing peers, then exit")
	flag.BoolVar(&o.verbose, "v", false, "debug logging (commands, start and stop times)")
	flag.DurationVar(&o.quietWait, "quiet-wait", 0, "before each contender, wait up to this long for other work to stop using the machine")
	flag.IntVar(&o.retries, "retries", 0, "re-measure a contender up to this many times while other work disturbed it, keeping the least disturbed run")
	flag.StringVar(&o.render, "render", "", "render the markdown and charts again from a results JSON file and exit (no load)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir with configs and logs, for inspection")
	flag.Parse()
	if o.command == "" {
		o.command = strings.Join(os.Args, " ")
	}
	return o
}

func main() {
	o := parseFlags()
	if o.render != "" {
		if err := render(o.render); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := reexec(o.pin, o.niceness); err != nil {
		log.Error("pinning", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		log.Error("meshbench", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	if o.rate <= 0 || o.conns <= 0 || o.duration <= 0 || o.warmup < 0 || o.cpuRate < 0 || o.cpuDuration < 0 {
		return fmt.Errorf("meshbench: -rate, -connections and -duration must be positive, -warmup, -cpu-rate and -cpu-duration not negative")
	}
	if o.cpuDuration == 0 {
		o.cpuDuration = o.duration
	}
	tmp, err := os.MkdirTemp("", "meshbench-")
	if err != nil {
		return fmt.Errorf("meshbench: %w", err)
	}
	if o.keep {
		log.Info("keeping configs and logs", "dir", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	_ = os.Chmod(tmp, 0o755) // squid drops root and must reach its directory

	sel, err := selectContenders(ctx, o, tmp, log)
	if err != nil || o.installOnly {
		return err
	}
	up, err := harness.StartUpstream()
	if err != nil {
		return err
	}
	defer up.Close()

	cfg := harness.Config{
		Rate: o.rate, Connections: o.conns, Duration: o.duration, Warmup: o.warmup,
		CPURate: o.cpuRate, CPUDuration: o.cpuDuration,
		TempDir: tmp, Log: log,
	}
	if o.pin {
		cfg.ProxyCPU = "0"
	}
	res := report.Run{
		Name: o.name, Date: time.Now(), Command: o.command,
		Machine:  machine(o.pin, o.niceness),
		Settings: report.Settings{Rate: o.rate, Connections: o.conns, Duration: o.duration, Warmup: o.warmup, BodyBytes: harness.BodyBytes},
		Versions: sel.versions,
	}
	if o.cpuRate > 0 {
		res.Settings.CPURate, res.Settings.CPUDuration = o.cpuRate, o.cpuDuration
	}
	for _, c := range sel.contenders {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("meshbench: interrupted: %w", err)
		}
		row := measure(ctx, o, cfg, up, c, log)
		if row.Skipped != "" {
			log.Warn("skipped", "contender", c.Name(), "reason", row.Skipped)
		}
		res.Rows = append(res.Rows, row)
	}
	res.Rows = append(res.Rows, sel.skipped...)
	res.FillAdded("direct")
	res.Machine.LoadAvgAfter = loadAvg()
	files, err := res.Write(o.out)
	if err != nil {
		return err
	}
	fmt.Print(res.Markdown(nil))
	log.Info("wrote", "files", strings.Join(files, " "))
	return nil
}

// measure measures c once, and again up to o.retries times while other work
// on the machine disturbed it, keeping the least disturbed run.
func measure(ctx context.Context, o options, cfg harness.Config, up *harness.Upstream, c contender.Contender, log *slog.Logger) report.Row {
	var best report.Row
	for try := 0; try <= o.retries && ctx.Err() == nil; try++ {
		if o.quietWait > 0 {
			share, quiet := harness.WaitQuiet(ctx, o.quietWait, report.NoisyShare)
			if !quiet {
				log.Warn("machine still busy, measuring anyway", "contender", c.Name(), "other_cpu", share)
			}
		}
		log.Info("measuring", "contender", c.Name(), "try", try+1)
		row := harness.Measure(ctx, cfg, up, c)
		if try == 0 || (row.Skipped == "" && (best.Skipped != "" || row.OtherCPU < best.OtherCPU)) {
			best = row
		}
		if best.Skipped != "" || best.OtherCPU <= report.NoisyShare {
			break
		}
		log.Warn("other work disturbed the run", "contender", c.Name(), "other_cpu", row.OtherCPU, "least_so_far", best.OtherCPU)
	}
	return best
}

// render writes the markdown and charts of a results JSON file again, next
// to it.
func render(path string) error {
	r, err := report.Load(path)
	if err != nil {
		return err
	}
	_, err = r.Write(filepath.Dir(path))
	return err
}
