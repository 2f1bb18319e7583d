package kube

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/meshlite/meshlite/internal/controlplane/source"
)

// metrics are the table metrics every source reports and the status
// writer's own.
type metrics struct {
	source.TableMetrics
	statusWrites *prometheus.CounterVec
	leader       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		TableMetrics: source.NewTableMetrics(reg),
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
