package upstream

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Label values of meshlite_upstream_tries_total{result} and
// meshlite_upstream_retries_total{reason}: a fixed set.
const (
	resultResponse       = "response"
	resultConnectFailure = "connect_failure"
	resultReset          = "reset"
	resultPerTryTimeout  = "per_try_timeout"
	resultTimeout        = "timeout"
	resultCanceled       = "canceled"
	resultError          = "error"
	reasonStatus         = "status"
)

// metrics are the transport's Prometheus series. The route label is the
// route name ("" for unmapped traffic): a configured, bounded set.
type metrics struct {
	tries     *prometheus.CounterVec
	retries   *prometheus.CounterVec
	exhausted *prometheus.CounterVec
}

// newMetrics registers the series with reg; nil registers nothing.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		tries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_upstream_tries_total",
			Help: "Upstream tries (each dial of a tunnel, each request of a retried call) by outcome.",
		}, []string{"route", "result"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_upstream_retries_total",
			Help: "Retries made, by the failure that caused them.",
		}, []string{"route", "reason"}),
		exhausted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlite_upstream_retry_budget_exhausted_total",
			Help: "Retries skipped because the route's retry budget was empty.",
		}, []string{"route"}),
	}
}
