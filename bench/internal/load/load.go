// Package load drives HTTP load with the vegeta library and reduces the
// results to exact latency percentiles.
//
// Two shapes of run:
//   - open loop (Rate > 0): requests are sent on a fixed schedule whether or
//     not earlier ones have answered, so a slow proxy cannot slow the load
//     down and hide its own latency (coordinated omission). Latency is taken
//     from each request's intended send time on that schedule.
//   - closed loop (Rate == 0): Concurrency workers each send the next request
//     as soon as the previous one answers; the completed rate is the maximum
//     throughput.
package load

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Spec describes one run.
type Spec struct {
	URL         string        // request URL, GET
	Proxy       *url.URL      // forward proxy to send absolute-form requests through; nil = direct
	Rate        int           // requests per second; 0 = closed loop as fast as possible
	Connections int           // max TCP connections to the target (or proxy); also the closed-loop concurrency
	Duration    time.Duration // length of the run
	Timeout     time.Duration // per-request timeout; 0 = 10 s
	// Dial opens the load generator's connections; nil = an ordinary
	// dialer in this network namespace. A contender whose client lives
	// elsewhere (another network namespace) supplies its own.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Result is what one run measured.
type Result struct {
	Requests int `json:"requests"`
	// Scheduled is how many requests the open-loop schedule called for
	// (0 in closed loop). Fewer Requests means the load generator could not
	// keep to its schedule and the run under-reports latency.
	Scheduled  int           `json:"scheduled,omitempty"`
	Errors     int           `json:"errors"` // transport errors and non-2xx answers
	Elapsed    time.Duration `json:"elapsed_ns"`
	Throughput float64       `json:"throughput_rps"` // successful requests per second
	// Latency is measured from the intended send time (open loop) or the
	// actual send time (closed loop) to the end of the response body.
	Latency Percentiles `json:"latency"`
	// Service is measured from the actual send time; in open loop the gap
	// to Latency shows how far the load generator fell behind its schedule.
	Service     Percentiles `json:"service"`
	ErrorSample []string    `json:"error_sample,omitempty"`
}

// Run performs one run and blocks until it ends or ctx is cancelled.
func Run(ctx context.Context, s Spec) (Result, error) {
	if s.Connections <= 0 || s.Duration <= 0 || s.Rate < 0 {
		return Result{}, fmt.Errorf("load: bad spec: connections=%d duration=%s rate=%d", s.Connections, s.Duration, s.Rate)
	}
	atk := newAttacker(s)
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: s.URL})
	constant := vegeta.ConstantPacer{Freq: s.Rate, Per: time.Second} // Freq 0 = unpaced
	var pacer vegeta.Pacer = constant
	var interval time.Duration
	if s.Rate > 0 {
		interval = time.Second / time.Duration(s.Rate)
		if tp := newTimerPacer(constant); tp != nil {
			defer tp.Close()
			pacer = tp
		}
	}

	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	results := atk.Attack(targeter, pacer, s.Duration, "meshbench")
	// The schedule starts inside Attack; reading the clock just after it
	// returns can only shorten the latency added from the schedule, by the
	// microseconds Attack takes to start its workers.
	began := time.Now()
	var c collector
	for r := range results {
		c.add(r, began, interval)
	}
	elapsed := time.Since(began)
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("load: run cancelled: %w", err)
	}
	res := c.result(elapsed)
	if s.Rate > 0 {
		res.Scheduled = int(s.Duration / interval)
	}
	return res, nil
}

func newAttacker(s Spec) *vegeta.Attacker {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	proxy := func(*http.Request) (*url.URL, error) { return nil, nil }
	if s.Proxy != nil {
		proxy = http.ProxyURL(s.Proxy)
	}
	opts := []func(*vegeta.Attacker){
		vegeta.Connections(s.Connections),
		vegeta.MaxConnections(s.Connections),
		vegeta.KeepAlive(true),
		vegeta.HTTP2(false),
		vegeta.Timeout(timeout),
		vegeta.Proxy(proxy),
		vegeta.MaxBody(0), // read and discard bodies; keep no copy per result
		vegeta.Redirects(vegeta.NoFollow),
	}
	if s.Dial != nil {
		// A client of our own whose transport dials with s.Dial, given
		// first so that the options above tune its transport as they
		// would tune vegeta's.
		own := &http.Client{Transport: &http.Transport{DialContext: s.Dial, TLSClientConfig: vegeta.DefaultTLSConfig}}
		opts = append([]func(*vegeta.Attacker){vegeta.Client(own)}, opts...)
	}
	if s.Rate == 0 {
		// Closed loop: exactly Connections workers, each waiting for its answer.
		opts = append(opts, vegeta.Workers(uint64(s.Connections)), vegeta.MaxWorkers(uint64(s.Connections)))
	} else {
		// Open loop: the default unbounded worker pool grows so that every
		// scheduled request is sent on time; requests queue for one of the
		// Connections connections and that wait counts as latency.
		opts = append(opts, vegeta.Workers(uint64(s.Connections)))
	}
	return vegeta.NewAttacker(opts...)
}

// collector accumulates per-request latencies.
type collector struct {
	latency, service []time.Duration
	errors           int
	sample           []string
}

const maxErrorSample = 5

func (c *collector) add(r *vegeta.Result, began time.Time, interval time.Duration) {
	if r.Error != "" || r.Code < 200 || r.Code > 299 {
		c.errors++
		if len(c.sample) < maxErrorSample {
			c.sample = append(c.sample, fmt.Sprintf("code=%d %s", r.Code, r.Error))
		}
		return
	}
	lat := r.Latency
	if interval > 0 {
		// vegeta's pacer schedules hit n (0-based) at began+(n+1)*interval.
		intended := began.Add(time.Duration(r.Seq+1) * interval)
		if fromSchedule := r.Timestamp.Add(r.Latency).Sub(intended); fromSchedule > lat {
			lat = fromSchedule
		}
	}
	c.latency = append(c.latency, lat)
	c.service = append(c.service, r.Latency)
}

func (c *collector) result(elapsed time.Duration) Result {
	ok := len(c.latency)
	return Result{
		Requests:    ok + c.errors,
		Errors:      c.errors,
		Elapsed:     elapsed,
		Throughput:  float64(ok) / elapsed.Seconds(),
		Latency:     percentilesOf(c.latency),
		Service:     percentilesOf(c.service),
		ErrorSample: c.sample,
	}
}

// Percentiles of a latency distribution, in nanoseconds in JSON.
type Percentiles struct {
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// percentilesOf sorts d in place and returns its nearest-rank percentiles.
func percentilesOf(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	return Percentiles{
		P50:  rank(d, 0.50),
		P90:  rank(d, 0.90),
		P99:  rank(d, 0.99),
		P999: rank(d, 0.999),
		Max:  d[len(d)-1],
	}
}

// rank returns the nearest-rank q-quantile of sorted d.
func rank(d []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[max(0, min(i, len(d)-1))]
}
