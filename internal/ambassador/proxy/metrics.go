package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
)

// metrics are the pipeline's Prometheus series. Labels are bounded: door,
// route and rule names come from the configuration, never from requests.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tunnels  prometheus.Gauge
	swaps    prometheus.Counter
	swapTime prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_requests_total",
			Help: "Requests by door, route, rule, decision and status class.",
		}, []string{"door", "route", "rule", "decision", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshlite_request_duration_seconds",
			Help:    "Time from request to the end of the answer, by door and decision.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"door", "decision"}),
		tunnels: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_tunnels_open",
			Help: "CONNECT tunnels open now.",
		}),
		swaps: f.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_table_swaps_total",
			Help: "Route tables swapped in.",
		}),
		swapTime: f.NewGauge(prometheus.GaugeOpts{
			Name: "meshlite_table_loaded_timestamp_seconds",
			Help: "When the current route table was swapped in (Unix time).",
		}),
	}
}

func (m *metrics) swapped(s *State) {
	m.swaps.Inc()
	m.swapTime.Set(float64(s.Loaded.UnixNano()) / 1e9)
}

func (m *metrics) observe(e *audit.Entry) {
	route, rule := e.Route, e.Rule
	if route == "" {
		route = "none"
	}
	if rule == "" {
		rule = "none"
	}
	m.requests.WithLabelValues(e.Door, route, rule, e.Decision, statusClass(e.Status)).Inc()
	m.duration.WithLabelValues(e.Door, e.Decision).Observe(e.Duration.Seconds())
}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(code int) string {
	if code >= 100 && code < 600 {
		return classes[code/100-1]
	}
	return "other"
}
