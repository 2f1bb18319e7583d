package proxy

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/meshlite/meshlite/internal/ambassador/audit"
)

// metrics are the pipeline's Prometheus series. Labels are bounded: door,
// route and rule names come from the configuration, never from requests.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// counters and observers remember the series of label sets seen, so
	// that a request finds its own without prometheus checking and hashing
	// its labels each time.
	counters  sync.Map // requestLabels → prometheus.Counter
	observers sync.Map // durationLabels → prometheus.Observer
	tunnels   prometheus.Gauge
	swaps     prometheus.Counter
	swapTime  prometheus.Gauge
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
	rl := requestLabels{e.Door, route, rule, e.Decision, statusClass(e.Status)}
	c, ok := m.counters.Load(rl)
	if !ok {
		c, _ = m.counters.LoadOrStore(rl, m.requests.WithLabelValues(rl.door, rl.route, rl.rule, rl.decision, rl.class))
	}
	c.(prometheus.Counter).Inc()
	dl := durationLabels{e.Door, e.Decision}
	o, ok := m.observers.Load(dl)
	if !ok {
		o, _ = m.observers.LoadOrStore(dl, m.duration.WithLabelValues(dl.door, dl.decision))
	}
	o.(prometheus.Observer).Observe(e.Duration.Seconds())
}

type requestLabels struct{ door, route, rule, decision, class string }

type durationLabels struct{ door, decision string }

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(code int) string {
	if code >= 100 && code < 600 {
		return classes[code/100-1]
	}
	return "other"
}
