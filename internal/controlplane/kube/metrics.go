package kube

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/meshlite/meshlite/internal/controlplane/source"
)

type metrics struct {
	tables       prometheus.Gauge
	problems     prometheus.Gauge
	tableErrors  prometheus.Counter
	published    prometheus.Counter
	statusWrites *prometheus.CounterVec
	leader       prometheus.Gauge
}

// newMetrics registers the same table gauges and publication count as the
// directory source (a control plane runs one source), and the status
// writer's own.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		tables: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_controlplane_tables",
			Help: "Route tables being served.",
		}),
		problems: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_controlplane_table_problems",
			Help: "RouteTables whose latest edit is invalid (their last good table, if any, is served).",
		}),
		tableErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_controlplane_table_errors_total",
			Help: "Invalid RouteTable edits seen.",
		}),
		published: source.NewPublishedCounter(reg),
		statusWrites: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_controlplane_status_writes_total",
			Help: "RouteTable status writes by this replica, by result (ok, error).",
		}, []string{"result"}),
		leader: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_controlplane_status_leader",
			Help: "1 while this replica holds the Lease and writes RouteTable status, else 0.",
		}),
	}
}
