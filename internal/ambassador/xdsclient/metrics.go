package xdsclient

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the client's meshlite_xds_* series.
type metrics struct {
	connected  prometheus.Gauge
	acks       prometheus.Counter
	nacks      prometheus.Counter
	reconnects prometheus.Counter
}

// newMetrics registers the metrics with reg; a nil reg registers nothing.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		connected: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_xds_connected",
			Help: "1 while the ADS stream to the control plane is open, else 0.",
		}),
		acks: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_xds_acks_total",
			Help: "Route tables from the control plane that were applied and ACKed.",
		}),
		nacks: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_xds_nacks_total",
			Help: "Route tables from the control plane that were rejected (NACK).",
		}),
		reconnects: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_xds_reconnects_total",
			Help: "Attempts to reopen the ADS stream after it was lost or could not be opened.",
		}),
	}
}
