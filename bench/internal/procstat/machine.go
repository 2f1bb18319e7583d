package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Machine is a snapshot of the whole machine's CPU use from /proc/stat.
type Machine struct {
	Busy time.Duration // user+nice+system+irq+softirq+steal, summed over CPUs
	CPUs int
}

// ReadMachine reads /proc/stat.
func ReadMachine() (Machine, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, fmt.Errorf("procstat: %w", err)
	}
	return parseMachine(string(raw))
}

func parseMachine(raw string) (Machine, error) {
	var m Machine
	found := false
	for _, line := range strings.Split(raw, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			m.CPUs++
			continue
		}
		// cpu user nice system idle iowait irq softirq steal ...
		if len(f) < 9 {
			return Machine{}, fmt.Errorf("procstat: /proc/stat: short cpu line %q", line)
		}
		for _, i := range []int{1, 2, 3, 6, 7, 8} {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return Machine{}, fmt.Errorf("procstat: /proc/stat cpu field %d: %w", i, err)
			}
			m.Busy += time.Duration(n) * clockTick
		}
		found = true
	}
	if !found || m.CPUs == 0 {
		return Machine{}, fmt.Errorf("procstat: /proc/stat: no cpu lines")
	}
	return m, nil
}
