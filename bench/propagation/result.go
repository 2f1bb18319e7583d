package propagation

import (
	"math"
	"slices"
	"time"
)

// Scenario names.
const (
	ScenarioOne = "one workload's table changes"
	ScenarioAll = "every table changes"
)

// Result is one run: one N, both scenarios.
type Result struct {
	Clients     int `json:"clients"`
	PerWorkload int `json:"perWorkload"`
	Workloads   int `json:"workloads"`
	Rounds      int `json:"rounds"`
	// ControlPlaneFlags are the flags besides addresses and directory.
	ControlPlaneFlags []string   `json:"controlPlaneFlags"`
	Connect           Connect    `json:"connect"`
	Scenarios         []Scenario `json:"scenarios"`
	// PeakRSSBytes is the control plane's VmHWM at the end of the run.
	PeakRSSBytes int64 `json:"peakRssBytes"`
	// ControlPlaneCPUSeconds is its total CPU time, start to end.
	ControlPlaneCPUSeconds float64 `json:"controlPlaneCpuSeconds"`
	// HarnessCPUSeconds is the CPU time of this process (the simulated
	// ambassadors) during the run; it shares the machine's cores.
	HarnessCPUSeconds float64 `json:"harnessCpuSeconds"`
}

// Connect is the phase in which every ambassador dials, subscribes and
// ACKs its first table.
type Connect struct {
	Duration   time.Duration `json:"durationNs"`
	CPUSeconds float64       `json:"cpuSeconds"`
	// RSSBytes is the control plane's VmRSS with every stream open and idle.
	RSSBytes int64 `json:"rssBytes"`
}

// Scenario is the measured edits of one kind.
type Scenario struct {
	Name string `json:"name"`
	// Updated is how many ambassadors each edit reaches.
	Updated int     `json:"updated"`
	Rounds  []Round `json:"rounds"`
	// P50, P99 and Max are over every ambassador of every round: the time
	// from the swap to its apply-and-ACK. Max is the slowest last ACK.
	P50 time.Duration `json:"p50Ns"`
	P99 time.Duration `json:"p99Ns"`
	Max time.Duration `json:"maxNs"`
	// MedianLast is the median over rounds of the round's last ACK.
	MedianLast time.Duration `json:"medianLastNs"`
	// CPUSeconds is the control plane's mean CPU time per edit.
	CPUSeconds float64 `json:"cpuSecondsPerEdit"`
	// Extra counts tables applied by ambassadors whose table did not
	// change (resends); 0 is right.
	Extra int `json:"extra"`
}

// Round is one edit.
type Round struct {
	Latencies  []time.Duration `json:"-"`
	P50        time.Duration   `json:"p50Ns"`
	Last       time.Duration   `json:"lastNs"`
	CPUSeconds float64         `json:"cpuSeconds"`
	Extra      int             `json:"extra"`
}

func (r *Round) summarize() {
	slices.Sort(r.Latencies)
	r.P50 = percentile(r.Latencies, 50)
	r.Last = percentile(r.Latencies, 100)
}

func (s *Scenario) summarize() {
	var all, lasts []time.Duration
	s.CPUSeconds, s.Extra = 0, 0
	for _, r := range s.Rounds {
		all = append(all, r.Latencies...)
		lasts = append(lasts, r.Last)
		s.CPUSeconds += r.CPUSeconds / float64(len(s.Rounds))
		s.Extra += r.Extra
	}
	slices.Sort(all)
	slices.Sort(lasts)
	s.P50, s.P99, s.Max = percentile(all, 50), percentile(all, 99), percentile(all, 100)
	s.MedianLast = percentile(lasts, 50)
}

// percentile is the nearest-rank percentile of sorted values; 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
