package upstream

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/meshlite/meshlite/internal/backoff"
)

// core is what the two engines (Transport on net/http, Client on
// fasthttp) share: options, retry budget, metrics, logger, backoff and the
// TLS base configuration.
type core struct {
	opts    Options
	tlsBase *tls.Config
	budget  *budget
	metrics *metrics
	log     *slog.Logger
	// backoff returns the wait before retry number retry (from 0).
	backoff func(retry int) time.Duration
}

// newCore applies the defaults to opts and builds the shared parts.
func newCore(opts Options) core {
	opts = withDefaults(opts)
	co := core{
		opts:    opts,
		tlsBase: &tls.Config{MinVersion: tls.VersionTLS12},
		budget:  newBudget(max(opts.BudgetRatio, 0), max(opts.BudgetPerSecond, 0)),
		metrics: newMetrics(opts.Registerer),
		log:     opts.Logger,
		backoff: func(retry int) time.Duration { return backoff.Exponential(backoffBase, backoffMax, retry) },
	}
	if opts.TLSConfig != nil {
		co.tlsBase = opts.TLSConfig.Clone()
	}
	return co
}

// tlsConfig is the client configuration for one connection to host: the
// configured roots (system roots when none), SNI and verification for
// host, and protos as the ALPN list when the base configuration has none.
func (co *core) tlsConfig(host string, protos ...string) *tls.Config {
	cfg := co.tlsBase.Clone()
	cfg.ServerName = host
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = protos
	}
	return cfg
}

// policy is the retry policy of one call to t: Retry with its defaults
// applied (at least one attempt, the default timeout).
func (co *core) policy(t *Target) Retry {
	pol := t.Retry
	pol.Attempts = max(pol.Attempts, 1)
	if pol.Timeout <= 0 {
		pol.Timeout = co.opts.DefaultTimeout
	}
	return pol
}
