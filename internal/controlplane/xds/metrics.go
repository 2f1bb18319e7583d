package xds

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	connected   *prometheus.GaugeVec
	pushes      *prometheus.CounterVec
	acks        *prometheus.CounterVec
	nacks       prometheus.Counter
	pushLatency prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		connected: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshlite_controlplane_xds_connected_ambassadors",
			Help: "Open xDS streams, by stream kind (sotw, delta).",
		}, []string{"stream"}),
		pushes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_controlplane_xds_pushes_total",
			Help: "xDS responses sent, by stream kind.",
		}, []string{"stream"}),
		acks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_controlplane_xds_acks_total",
			Help: "xDS responses accepted by ambassadors, by stream kind.",
		}, []string{"stream"}),
		nacks: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_controlplane_xds_nacks_total",
			Help: "xDS responses rejected by ambassadors (NACK with error_detail).",
		}),
		pushLatency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshlite_controlplane_xds_push_latency_seconds",
			Help:    "Time from a table change being published to each ambassador's ACK of that version.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, kind := range []string{StreamSotW, StreamDelta} {
		m.connected.WithLabelValues(kind)
		m.pushes.WithLabelValues(kind)
		m.acks.WithLabelValues(kind)
	}
	return m
}
