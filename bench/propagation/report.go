package propagation

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where a run happened.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memoryGiB"`
	Kernel    string  `json:"kernel"`
	Go        string  `json:"go"`
	// LoadBefore and LoadAfter are the 1-minute load averages when the run
	// began and ended; anything near the core count means other work
	// shared the machine and the numbers are pessimistic.
	LoadBefore string `json:"loadBefore"`
	LoadAfter  string `json:"loadAfter"`
}

// Report is everything written to the results file.
type Report struct {
	Date    time.Time `json:"date"`
	Command string    `json:"command"`
	Machine Machine   `json:"machine"`
	Results []*Result `json:"results"`
}

// ThisMachine reads the machine's description from /proc.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n float64
		fmt.Sscanf(kb, "%f", &n)
		m.MemoryGiB = n / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadBefore = LoadAverage()
	return m
}

// LoadAverage is the 1-minute load average, "" if unknown.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Fields(string(b))[0]
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// WriteMarkdown writes the report as the results page.
func (rep *Report) WriteMarkdown(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "# Propagation: file edit to the last ACK\n\n")
	fmt.Fprintf(w, "- date: %s\n- command: `%s`\n", rep.Date.UTC().Format("2006-01-02 15:04 MST"), rep.Command)
	fmt.Fprintf(w, "- machine: %s, %d cores, %.0f GiB, Linux %s, %s\n", m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go)
	fmt.Fprintf(w, "- 1-minute load average: %s before, %s after (it includes the run itself)\n\n", m.LoadBefore, m.LoadAfter)
	if load, err := strconv.ParseFloat(m.LoadBefore, 64); err == nil && load >= float64(m.Cores)/2 {
		fmt.Fprintf(w, "**Warning: the machine was busy before the run began (load %s on %d cores); the times and CPU figures below are pessimistic.**\n\n", m.LoadBefore, m.Cores)
	}
	per := 10
	if len(rep.Results) > 0 {
		per = rep.Results[0].PerWorkload
	}
	fmt.Fprintf(w, setupText, per, per, per)
	fmt.Fprintf(w, "\n## Time from the `..data` swap to the ACK\n\n")
	fmt.Fprintf(w, "| N | scenario | ambassadors per edit | edits | p50 | p99 | max (slowest last ACK) | median last ACK | control-plane CPU per edit | resends |\n")
	fmt.Fprintf(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Results {
		for _, s := range r.Scenarios {
			fmt.Fprintf(w, "| %d | %s | %d | %d | %s | %s | %s | %s | %.3f s | %d |\n",
				r.Clients, s.Name, s.Updated, len(s.Rounds), ms(s.P50), ms(s.P99), ms(s.Max), ms(s.MedianLast), s.CPUSeconds, s.Extra)
		}
	}
	fmt.Fprintf(w, "\n## Control plane resources\n\n")
	fmt.Fprintf(w, "| N | tables | connect + first ACK (all) | CPU to connect | RSS, all streams idle | peak RSS | CPU, whole run | harness CPU, whole run |\n")
	fmt.Fprintf(w, "|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "| %d | %d | %s | %.2f s | %s | %s | %.2f s | %.2f s |\n",
			r.Clients, r.Workloads, r.Connect.Duration.Round(time.Millisecond), r.Connect.CPUSeconds,
			mib(r.Connect.RSSBytes), mib(r.PeakRSSBytes), r.ControlPlaneCPUSeconds, r.HarnessCPUSeconds)
	}
	fmt.Fprintf(w, "\n## Every edit\n\n| N | scenario | last ACK per edit | control-plane CPU per edit |\n|---:|---|---|---|\n")
	for _, r := range rep.Results {
		for _, s := range r.Scenarios {
			var lasts, cpus []string
			for _, rd := range s.Rounds {
				lasts = append(lasts, ms(rd.Last))
				cpus = append(cpus, fmt.Sprintf("%.2f", rd.CPUSeconds))
			}
			fmt.Fprintf(w, "| %d | %s | %s | %s s |\n", r.Clients, s.Name, strings.Join(lasts, ", "), strings.Join(cpus, ", "))
		}
	}
	if len(rep.Results) > 0 {
		fmt.Fprintf(w, "\nControl plane flags besides addresses and directory: `%s` (N=%d).\n",
			strings.Join(rep.Results[len(rep.Results)-1].ControlPlaneFlags, " "), rep.Results[len(rep.Results)-1].Clients)
	}
}

const setupText = `## Setup

- **Control plane**: the ` + "`controlplane serve`" + ` binary, run as a child process of the
  harness so that its CPU time (utime+stime from /proc/<pid>/stat) and memory
  (VmRSS, VmHWM from /proc/<pid>/status) are its own. Defaults throughout
  (100 ms debounce window: an isolated change, such as one ..data swap, is
  published at once and a burst once per window; 30 s resync), except the
  connection cap raised above N.
- **Ambassadors**: N simulated ambassadors in the harness process, each the
  ambassador's own xDS client (internal/ambassador/xdsclient) on its own gRPC
  connection and ADS stream, as in a pod. Each received table is converted and
  compiled (routes.Compile) before the client ACKs it; the time is taken when
  the table has been applied, just before the ACK is sent. Every ACK is also
  checked on the control plane's ` + "`meshlite_controlplane_xds_acks_total`" + `.
- **Workloads**: %d ambassadors per workload (a deployment of %d replicas), so
  N/%d tables of 3 routes and 3 egress rules each.
- **Edits**: the route directory is laid out as a Kubernetes ConfigMap volume,
  and each edit is the atomic ` + "`..data`" + ` symlink swap a pod sees, timed from
  just before the rename. (a) changes one workload's table (its replicas only);
  (b) changes every table (all N ambassadors). Each scenario makes one
  unmeasured warm-up edit, then the measured ones; the latencies pool every
  ambassador of every measured edit. "Resends" counts tables delivered to
  ambassadors whose table did not change (0 is right).
- Both processes share the machine's cores, so the simulated ambassadors'
  CPU time (harness CPU) competes with the control plane's.
`

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
