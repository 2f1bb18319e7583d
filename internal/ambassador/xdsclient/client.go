// Package xdsclient is the ambassador's side of xDS: one Aggregated Discovery
// Service stream to the control plane, subscribed by name to the workload's
// meshlite.v1.RouteTable. Each table received is converted and handed to an
// Applier; the client ACKs what the Applier accepts and NACKs the rest with
// the reason, so the ambassador keeps serving its last good table. Lost
// streams are reopened forever with exponential backoff and full jitter.
package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/meshlite/meshlite/internal/backoff"
	"github.com/meshlite/meshlite/pkg/routes"
)

// Applier validates, compiles and swaps in a table received from the
// control plane. version is the xDS version_info of the response. A non-nil
// error rejects the table (NACK) and must leave the current table serving.
type Applier func(version string, rt *routes.RouteTable) error

// Options configure a Client. Addr, Workload and Apply are required.
type Options struct {
	// Addr is the control plane's host:port.
	Addr string
	// NodeID identifies this ambassador to the control plane (the pod
	// name); "" means the host name.
	NodeID string
	// Workload is the RouteTable to subscribe to (its metadata.name); it is
	// also sent as node metadata "workload".
	Workload string
	// Namespace, when set, is sent as node metadata "namespace" and the
	// subscription is to "<Namespace>/<Workload>", the name under which the
	// control plane's kubernetes source serves the RouteTable of that
	// namespace (meshlitev1.ResourceName). "" subscribes to "<Workload>".
	Namespace string
	// Apply receives every table; see Applier.
	Apply Applier
	// Logger receives connection, ACK and NACK events; nil discards them.
	Logger *slog.Logger
	// Registerer receives the meshlite_xds_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Security is TLS, the client certificate and the token (creds.go);
	// the zero value is plaintext.
	Security Security
	// DialOptions are added after the defaults (insecure transport
	// credentials unless Security asks for TLS, keepalive pings every
	// 30s), so they override them.
	DialOptions []grpc.DialOption
	// BackoffBase and BackoffMax bound the wait before reopening a lost
	// stream: a random duration in [0, min(BackoffMax, BackoffBase·2^n)]
	// after the n-th failure in a row. 0 means 250ms and 30s.
	BackoffBase, BackoffMax time.Duration
}

// Client keeps one ADS stream open to the control plane. Safe for
// concurrent use; Run is called once.
type Client struct {
	opts     Options
	log      *slog.Logger
	metrics  *metrics
	dialOpts []grpc.DialOption

	// jitter picks a NACK's delay within its backoff ceiling: backoff.FullJitter,
	// or in tests the ceiling itself.
	jitter func(ceiling time.Duration) time.Duration

	mu    sync.Mutex
	state State
}

// New checks opts and fills in defaults. It does not connect: Run does.
func New(opts Options) (*Client, error) {
	var problems []error
	if opts.Addr == "" {
		problems = append(problems, errors.New("xdsclient: control plane address is required"))
	}
	if opts.Workload == "" {
		problems = append(problems, errors.New("xdsclient: workload is required"))
	}
	if opts.Apply == nil {
		problems = append(problems, errors.New("xdsclient: Apply is required"))
	}
	if opts.BackoffBase < 0 || opts.BackoffMax < 0 {
		problems = append(problems, fmt.Errorf("xdsclient: negative backoff (base %s, max %s)", opts.BackoffBase, opts.BackoffMax))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	if opts.NodeID == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("xdsclient: node id: %w", err)
		}
		opts.NodeID = host
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 250 * time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 30 * time.Second
	}
	opts.BackoffMax = max(opts.BackoffMax, opts.BackoffBase)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	secure, err := opts.Security.dialOptions(log)
	if err != nil {
		return nil, err
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
	dialOpts = append(dialOpts, secure...)
	return &Client{
		opts:     opts,
		log:      log.With("component", "xdsclient", "addr", opts.Addr, "workload", opts.Workload),
		metrics:  newMetrics(opts.Registerer),
		dialOpts: slices.Concat(dialOpts, opts.DialOptions),
		jitter:   backoff.FullJitter,
		state:    State{Since: time.Now()},
	}, nil
}

// Run keeps a stream open until ctx is done, reopening it after every
// failure, and returns nil then. Without a control plane it only waits and
// retries: the ambassador keeps serving the table it has.
func (c *Client) Run(ctx context.Context) error {
	for failures := 0; ; failures++ {
		delivered, err := c.stream(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if delivered {
			failures = 0
		}
		delay := backoff.Exponential(c.opts.BackoffBase, c.opts.BackoffMax, failures)
		c.setError(err)
		c.log.Warn("xds: no stream to the control plane; retrying", "err", err, "delay", delay, "failures", failures+1)
		if !sleep(ctx, delay) {
			return nil
		}
		c.metrics.reconnects.Inc()
	}
}

// sleep waits for d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
