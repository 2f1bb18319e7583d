package upstream

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options tune a Client. Zero values mean the documented defaults.
type Options struct {
	// MaxIdleConnsPerHost is the idle connections kept per endpoint (http)
	// or per name and endpoint (https); default 256. The pool keeps at most four times
	// as many idle connections in all.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes idle connections after this long; default 90s.
	IdleConnTimeout time.Duration
	// DialTimeout bounds one TCP connect; default 5s.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds one TLS handshake; default 10s.
	TLSHandshakeTimeout time.Duration
	// DefaultTimeout bounds a whole call (retries and response body
	// included) whose Retry.Timeout is 0, and so a DialTunnel across all
	// of its target's addresses; default 30s.
	DefaultTimeout time.Duration
	// TLSConfig is the base client configuration for https targets (roots,
	// client certificates); nil means system roots. ServerName is always
	// set to Target.Host.
	TLSConfig *tls.Config
	// BudgetRatio is the retry tokens each retried call adds to its route's
	// budget; default 0.2 (retries ≤ 20 % of requests). Negative means 0.
	BudgetRatio float64
	// BudgetPerSecond is the retry tokens added per second per route, and
	// the bucket's capacity (at least 1); default 10. Negative means 0.
	BudgetPerSecond float64
	// Registerer receives the transport's metrics; nil registers nothing.
	// Use one Transport per registerer.
	Registerer prometheus.Registerer
	// Logger receives debug lines about retries; nil discards them.
	Logger *slog.Logger
}

const (
	backoffBase = 25 * time.Millisecond
	backoffMax  = 250 * time.Millisecond
)

func withDefaults(o Options) Options {
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 256
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.TLSHandshakeTimeout <= 0 {
		o.TLSHandshakeTimeout = 10 * time.Second
	}
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = 30 * time.Second
	}
	if o.BudgetRatio == 0 {
		o.BudgetRatio = 0.2
	}
	if o.BudgetPerSecond == 0 {
		o.BudgetPerSecond = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
