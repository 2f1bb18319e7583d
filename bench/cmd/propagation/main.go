// Command propagation measures how fast a route table edit reaches N
// ambassadors through one control plane, and what it costs the control
// plane, and writes the results as Markdown and JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshlite/meshlite/bench/propagation"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	var (
		ns      = flag.String("n", "1000,10000", "comma-separated numbers of simulated ambassadors, one run each")
		per     = flag.Int("per-workload", 10, "ambassadors per workload (replicas sharing a table)")
		rounds  = flag.Int("rounds", 5, "measured edits per scenario (after one warm-up edit)")
		cpBin   = flag.String("controlplane", "", "controlplane binary (default: build ./cmd/controlplane of -repo)")
		repo    = flag.String("repo", "..", "repository root, for building the control plane")
		out     = flag.String("out", "results", "directory for the results")
		name    = flag.String("name", "propagation", "results file name, without extension")
		command = flag.String("command", "", "command line recorded in the results (default: this one)")
		timeout = flag.Duration("timeout", 3*time.Minute, "bound on every wait")
	)
	flag.Parse()
	counts, err := parseCounts(*ns)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	binary := *cpBin
	if binary == "" {
		dir, err := os.MkdirTemp("", "meshlite-propagation-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if binary, err = propagation.BuildControlPlane(*repo, dir); err != nil {
			return err
		}
	}
	rep := &propagation.Report{Date: time.Now(), Command: *command, Machine: propagation.ThisMachine()}
	if rep.Command == "" {
		rep.Command = strings.Join(os.Args, " ")
	}
	for _, n := range counts {
		res, err := propagation.Run(ctx, propagation.Config{
			Clients: n, PerWorkload: *per, Rounds: *rounds, ControlPlane: binary, Timeout: *timeout, Log: os.Stderr,
		})
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, res)
	}
	rep.Machine.LoadAfter = propagation.LoadAverage()
	return write(rep, *out, *name)
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("propagation: -n %q: %q is not a positive number", s, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// write saves the report as name.md and name.json in dir.
func write(rep *propagation.Report, dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	rep.WriteMarkdown(&md)
	mdPath := filepath.Join(dir, name+".md")
	if err := os.WriteFile(mdPath, []byte(md.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Print(md.String())
	fmt.Fprintf(os.Stderr, "propagation: results in %s\n", mdPath)
	return nil
}
