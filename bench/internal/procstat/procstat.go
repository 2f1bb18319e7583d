// Package procstat reads CPU time and peak memory of a process tree from
// /proc, so that a proxy's cost includes the workers it forks.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the time fields in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux architecture the harness runs on).
const clockTick = 10 * time.Millisecond

// Tree returns root and all its live descendants.
func Tree(root int) []int {
	return tree(root, allStats())
}

func tree(root int, stats map[int]stat) []int {
	children := map[int][]int{}
	for pid, st := range stats {
		children[st.ppid] = append(children[st.ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out) && i < 10000; i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// allStats reads /proc/<pid>/stat of every live process.
func allStats() map[int]stat {
	stats := map[int]stat{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return stats
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			stats[pid] = st
		}
	}
	return stats
}

// kthreadd is the parent of every kernel thread.
const kthreadd = 2

// Others returns the CPU time used by user-space processes outside root's
// tree (including children they reaped). Kernel threads are left out: they
// do, among other things, the network work that root's own load causes.
// Compare two readings: processes that exit between them take their time
// with them unless their parent reaps them.
func Others(root int) time.Duration {
	stats := allStats()
	mine := map[int]bool{}
	for _, pid := range tree(root, stats) {
		mine[pid] = true
	}
	var total time.Duration
	for pid, st := range stats {
		if mine[pid] || pid == kthreadd || st.ppid == kthreadd {
			continue
		}
		total += st.cpu
	}
	return total
}

// CPU returns the user+system time used by root and its live descendants,
// including the time of children they have already reaped.
func CPU(root int) (time.Duration, error) {
	var total time.Duration
	for i, pid := range Tree(root) {
		st, err := readStat(pid)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue // a worker exited between listing and reading
		}
		total += st.cpu
	}
	return total, nil
}

// PeakRSS returns the sum of VmHWM (peak resident set size) over root and its
// live descendants, in bytes.
func PeakRSS(root int) (int64, error) {
	var total int64
	for i, pid := range Tree(root) {
		hwm, err := readHWM(pid)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue
		}
		total += hwm
	}
	return total, nil
}

type stat struct {
	ppid int
	cpu  time.Duration // utime + stime + cutime + cstime
}

// readStat reads /proc/<pid>/stat. The command name (field 2) may contain
// spaces and parentheses, so fields are counted after its last ')'.
func readStat(pid int) (stat, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, fmt.Errorf("procstat: %w", err)
	}
	return parseStat(pid, raw)
}

func parseStat(pid int, raw []byte) (stat, error) {
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return stat{}, fmt.Errorf("procstat: /proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(raw[end+1:]))
	// f[0] is field 3 (state); ppid is field 4, utime..cstime are 14..17.
	if len(f) < 15 {
		return stat{}, fmt.Errorf("procstat: /proc/%d/stat: %d fields, want at least 17", pid, len(f)+2)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return stat{}, fmt.Errorf("procstat: /proc/%d/stat ppid: %w", pid, err)
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return stat{}, fmt.Errorf("procstat: /proc/%d/stat times: %w", pid, err)
		}
		ticks += n
	}
	return stat{ppid: ppid, cpu: time.Duration(ticks) * clockTick}, nil
}

// readHWM returns VmHWM from /proc/<pid>/status in bytes.
func readHWM(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("procstat: %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "VmHWM:") {
			continue
		}
		f := strings.Fields(line) // "VmHWM:", "12345", "kB"
		if len(f) != 3 || f[2] != "kB" {
			return 0, fmt.Errorf("procstat: /proc/%d/status: odd VmHWM line %q", pid, line)
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: /proc/%d/status VmHWM: %w", pid, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("procstat: /proc/%d/status: no VmHWM (kernel thread or zombie?)", pid)
}
