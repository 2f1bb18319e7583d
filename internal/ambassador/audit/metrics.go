package audit

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	lines       prometheus.Counter
	dropped     prometheus.Counter
	writeErrors prometheus.Counter
}

// newMetrics registers the audit counters with reg (none when reg is nil).
// A counter that reg already holds is reused, so several Loggers may share
// one registry.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_audit_lines_total",
			Help: "Audit lines written.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_audit_dropped_total",
			Help: "Audit lines not written: the queue was full (--audit-overflow=drop) or every try to write them failed.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlite_audit_write_errors_total",
			Help: "Failed writes of audit lines; a failed write is retried, and lines still unwritten after the last try count as dropped.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []*prometheus.Counter{&m.lines, &m.dropped, &m.writeErrors} {
		if err := reg.Register(*c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			existing, ok := prometheus.Counter(nil), errors.As(err, &dup)
			if ok {
				existing, ok = dup.ExistingCollector.(prometheus.Counter)
			}
			if !ok {
				return nil, fmt.Errorf("audit: register metrics: %w", err)
			}
			*c = existing
		}
	}
	return m, nil
}
