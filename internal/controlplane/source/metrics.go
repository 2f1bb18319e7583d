package source

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	tables      prometheus.Gauge
	problems    prometheus.Gauge
	tableErrors prometheus.Counter
	scans       *prometheus.CounterVec
	fileReads   prometheus.Counter
	published   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		tables: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_controlplane_tables",
			Help: "Route tables being served.",
		}),
		problems: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_controlplane_table_problems",
			Help: "Route table files that are currently invalid (their last good table, if any, is served).",
		}),
		tableErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_controlplane_table_errors_total",
			Help: "New problems found in route table files.",
		}),
		scans: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_controlplane_scans_total",
			Help: "Scans of the route table directory, by result (ok, error).",
		}, []string{"result"}),
		fileReads: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_controlplane_file_reads_total",
			Help: "Route table files read; a rescan after a change reads only the files whose size, times or inode changed.",
		}),
		published: NewPublishedCounter(reg),
	}
}

// NewPublishedCounter registers the count of snapshots a Publisher
// publishes, for NewPublisher; every source registers the same one.
func NewPublishedCounter(reg prometheus.Registerer) prometheus.Counter {
	return promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Name: "meshlite_controlplane_snapshots_published_total",
		Help: "Snapshots of the route tables published to the xDS server (a table or a table's status changed).",
	})
}
