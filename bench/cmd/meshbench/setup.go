package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/meshlite/meshlite/bench/internal/contender"
	"github.com/meshlite/meshlite/bench/internal/peers"
	"github.com/meshlite/meshlite/bench/internal/report"
)

var allNames = []string{"direct", "meshlite-mapping", "meshlite-forward", "meshlite-transparent",
	"meshlite-pod-ip", "meshlite-pod-name", "meshlite-pod-name-nocache", "go-reverseproxy", "nginx", "haproxy", "squid"}

// selection is the ordered list of contenders to run, plus rows for those
// that cannot run here and the version line of each peer.
type selection struct {
	contenders []contender.Contender
	skipped    []report.Row
	versions   map[string]string
}

func selectContenders(ctx context.Context, o options, tmp string, log *slog.Logger) (selection, error) {
	want, err := wanted(o.only)
	if err != nil {
		return selection{}, err
	}
	if o.install {
		var pkgs []peers.Package
		for _, p := range peers.Known {
			if want[p.Binary] {
				pkgs = append(pkgs, p)
			}
		}
		if err := peers.Ensure(ctx, log, pkgs); err != nil {
			return selection{}, err
		}
	}
	if o.installOnly {
		return selection{}, nil
	}
	sel := selection{versions: map[string]string{}}
	for _, name := range allNames {
		if !want[name] {
			continue
		}
		c, version, skip := build(ctx, name, o, tmp, log)
		if skip != "" {
			log.Warn("skipping", "contender", name, "reason", skip)
			sel.skipped = append(sel.skipped, report.Row{Name: name, Description: describe(name), Skipped: skip})
			continue
		}
		sel.versions[name] = version
		sel.contenders = append(sel.contenders, c)
	}
	return sel, nil
}

func wanted(only string) (map[string]bool, error) {
	want := map[string]bool{}
	if only == "" {
		for _, n := range allNames {
			want[n] = true
		}
		return want, nil
	}
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		if !contains(allNames, n) {
			return nil, fmt.Errorf("meshbench: -contenders: unknown %q (known: %s)", n, strings.Join(allNames, ","))
		}
		want[n] = true
	}
	want["direct"] = true // the floor that added latency is measured against
	return want, nil
}

// podTargets are the ambassador rows in a pod with a pod's resolver
// configuration: an address target, and a name target with and without
// the DNS cache.
var podTargets = map[string]contender.Resolve{
	"meshlite-pod-ip":           contender.ByIP,
	"meshlite-pod-name":         contender.ByName,
	"meshlite-pod-name-nocache": contender.ByNameUncached,
}

// ambassadorBin caches one build attempt for the three ambassador doors.
var ambassadorBin struct {
	tried bool
	path  string
	err   error
}

// build returns the contender called name, its version line, or why it is
// skipped.
func build(ctx context.Context, name string, o options, tmp string, log *slog.Logger) (contender.Contender, string, string) {
	switch name {
	case "direct":
		return contender.Direct{}, runtime.Version() + " net/http upstream", ""
	case "nginx", "haproxy", "squid":
		bin := peers.Lookup(name)
		if bin == "" {
			return nil, "", name + " is not installed (run with -install, or apt-get install it)"
		}
		return peerContender(name, bin), peerVersion(bin), ""
	case "go-reverseproxy":
		bin, err := contender.BuildGoProxy(ctx, filepath.Join(o.mainModule, "bench"), tmp)
		if err != nil {
			return nil, "", "cannot build cmd/goproxy: " + err.Error()
		}
		return contender.GoProxy{Binary: bin}, runtime.Version(), ""
	}
	if name == "meshlite-transparent" {
		if why := contender.TransparentMissing(); why != "" {
			return nil, "", why
		}
	}
	if _, ok := podTargets[name]; ok {
		if why := contender.PodMissing(); why != "" {
			return nil, "", why
		}
	}
	if !ambassadorBin.tried {
		ambassadorBin.tried = true
		log.Info("building ambassador", "module", o.mainModule)
		ambassadorBin.path, ambassadorBin.err = contender.BuildAmbassador(ctx, o.mainModule, tmp)
	}
	if ambassadorBin.err != nil {
		return nil, "", "cannot build the ambassador binary: " + ambassadorBin.err.Error()
	}
	version := gitDescribe(o.mainModule)
	if pod, ok := podTargets[name]; ok {
		return contender.PodTarget{Binary: ambassadorBin.path, Resolve: pod}, version, ""
	}
	switch name {
	case "meshlite-transparent":
		return contender.Transparent{Binary: ambassadorBin.path}, version, ""
	case "meshlite-forward":
		return contender.Ambassador{Binary: ambassadorBin.path, Door: contender.ForwardDoor}, version, ""
	}
	return contender.Ambassador{Binary: ambassadorBin.path, Door: contender.MappingDoor}, version, ""
}

func peerContender(name, bin string) contender.Contender {
	switch name {
	case "nginx":
		return contender.Nginx{Binary: bin}
	case "haproxy":
		return contender.HAProxy{Binary: bin}
	}
	return contender.Squid{Binary: bin}
}

// peerVersion asks the binary for its version (nginx prints it on stderr,
// which Version captures too).
func peerVersion(bin string) string { return contender.Version(bin, "-v") }

func describe(name string) string {
	switch name {
	case "meshlite-mapping":
		return contender.Ambassador{Door: contender.MappingDoor}.Describe()
	case "meshlite-forward":
		return contender.Ambassador{Door: contender.ForwardDoor}.Describe()
	case "meshlite-transparent":
		return contender.Transparent{}.Describe()
	case "meshlite-pod-ip", "meshlite-pod-name", "meshlite-pod-name-nocache":
		return contender.PodTarget{Resolve: podTargets[name]}.Describe()
	case "nginx":
		return contender.Nginx{}.Describe()
	case "haproxy":
		return contender.HAProxy{}.Describe()
	case "squid":
		return contender.Squid{}.Describe()
	case "go-reverseproxy":
		return contender.GoProxy{}.Describe()
	}
	return contender.Direct{}.Describe()
}

func gitDescribe(dir string) string {
	out, err := exec.Command("git", "-C", dir, "log", "-1", "--format=commit %h %cs").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pinEnv marks a process that already re-executed itself under taskset/nice.
const pinEnv = "MESHBENCH_PINNED"

// reexec re-executes this program on CPU 1 (load generator and upstream),
// leaving CPU 0 to the proxy under test, and at nice value niceness, which
// the proxies inherit. With fewer than 2 CPUs it does not pin.
func reexec(pin bool, niceness int) error {
	if os.Getenv(pinEnv) != "" {
		return nil
	}
	pin = pin && runtime.NumCPU() >= 2
	if !pin && niceness == 0 {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("meshbench: %w", err)
	}
	argv := append([]string{self}, os.Args[1:]...)
	if niceness != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(niceness)}, argv...)
	}
	if pin {
		argv = append([]string{"taskset", "-c", "1"}, argv...)
	}
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("meshbench: -pin and -nice need %s: %w", argv[0], err)
	}
	return syscall.Exec(bin, argv, append(os.Environ(), pinEnv+"=1"))
}

func machine(pinned bool, niceness int) report.Machine {
	m := report.Machine{NProc: onlineCPUs(), GoVersion: runtime.Version(), Pinning: "none"}
	if pinned && os.Getenv(pinEnv) != "" && onlineCPUs() >= 2 {
		m.Pinning = "proxy on CPU 0 (taskset -c 0); load generator + upstream on CPU 1 (taskset -c 1)"
	}
	if niceness != 0 {
		m.Pinning += fmt.Sprintf("; harness and proxies at nice %d", niceness)
	}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	m.LoadAvgBefore = loadAvg()
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	return m
}

// onlineCPUs counts the machine's CPUs, not this process's affinity mask.
func onlineCPUs() int {
	out, err := exec.Command("nproc", "--all").Output()
	if err == nil {
		var n int
		if _, err := fmt.Sscan(string(out), &n); err == nil {
			return n
		}
	}
	return runtime.NumCPU()
}

// loadAvg returns the 1-minute load average, or "".
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
