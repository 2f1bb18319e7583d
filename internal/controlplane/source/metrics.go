package source

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// TableMetrics are what every source reports of the tables it serves. A
// control plane runs one source, so the directory and Kubernetes sources
// register the same names.
type TableMetrics struct {
	Tables   prometheus.Gauge // tables being served
	Problems prometheus.Gauge // tables whose latest version is invalid
	// TableErrors counts new problems; Published the snapshots a Publisher
	// published (pass it to NewPublisher).
	TableErrors prometheus.Counter
	Published   prometheus.Counter
}

// NewTableMetrics registers the table metrics with reg.
func NewTableMetrics(reg prometheus.Registerer) TableMetrics {
	f := promauto.With(reg)
	return TableMetrics{
		Tables: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_controlplane_tables",
			Help: "Route tables being served.",
		}),
		Problems: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_controlplane_table_problems",
			Help: "Route tables (files or RouteTable resources) whose latest version is invalid (their last good table, if any, is served).",
		}),
		TableErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_controlplane_table_errors_total",
			Help: "New problems found in route tables (files or RouteTable resources).",
		}),
		Published: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_controlplane_snapshots_published_total",
			Help: "Snapshots of the route tables published to the xDS server (a table or a table's status changed).",
		}),
	}
}

// metrics are the directory source's: the table metrics and its scans.
type metrics struct {
	TableMetrics
	scans     *prometheus.CounterVec
	fileReads prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		TableMetrics: NewTableMetrics(reg),
		scans: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_controlplane_scans_total",
			Help: "Scans of the route table directory, by result (ok, error).",
		}, []string{"result"}),
		fileReads: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_controlplane_file_reads_total",
			Help: "Route table files read; a rescan after a change reads only the files whose size, times or inode changed.",
		}),
	}
}
