package propagation

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshlite/meshlite/internal/ambassador/xdsclient"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// sim is one simulated ambassador: the ambassador's own xDS client on its
// own gRPC connection, whose Applier compiles the table (as the ambassador
// does before swapping it in) and records which generation it applied and
// when. The client sends its ACK as soon as the Applier returns.
type sim struct {
	workload int
	gen      atomic.Int64 // generation of the last table applied; -1 before any
	at       atomic.Int64 // when it was applied, UnixNano
	client   *xdsclient.Client
}

// fleet is every simulated ambassador, grouped by workload.
type fleet struct {
	sims       []*sim
	byWorkload [][]*sim
	// applied counts tables applied with a new generation; applies counts
	// every Applier call, including resends of a generation already held.
	applied, applies atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newFleet makes perWorkload simulated ambassadors for each of names,
// subscribed to the control plane at addr. None connects before start.
func newFleet(addr string, names []string, perWorkload int) (*fleet, error) {
	f := &fleet{byWorkload: make([][]*sim, len(names))}
	for w, name := range names {
		for r := range perWorkload {
			s := &sim{workload: w}
			s.gen.Store(-1)
			c, err := xdsclient.New(xdsclient.Options{
				Addr: addr, NodeID: fmt.Sprintf("%s-%d", name, r), Workload: name, Apply: f.applier(s),
			})
			if err != nil {
				return nil, err
			}
			s.client = c
			f.sims = append(f.sims, s)
			f.byWorkload[w] = append(f.byWorkload[w], s)
		}
	}
	return f, nil
}

// applier is one simulated ambassador's Applier.
func (f *fleet) applier(s *sim) xdsclient.Applier {
	return func(_ string, rt *routes.RouteTable) error {
		if _, err := routes.Compile(rt, policy.Options{}); err != nil {
			return err
		}
		gen := -1
		if len(rt.Spec.Routes) > 0 {
			gen = generationOf(rt.Spec.Routes[0].Target)
		}
		f.applies.Add(1)
		if int64(gen) != s.gen.Load() {
			s.at.Store(time.Now().UnixNano())
			s.gen.Store(int64(gen))
			f.applied.Add(1)
		}
		return nil
	}
}

// start connects the simulated ambassadors in batches, waiting for every
// one of a batch to apply its first table before the next batch dials, so
// the control plane's accept queue never overflows. It returns when all
// are connected and in sync, or on timeout.
func (f *fleet) start(ctx context.Context, batch int, timeout time.Duration) error {
	ctx, f.cancel = context.WithCancel(ctx)
	for from := 0; from < len(f.sims); from += batch {
		to := min(from+batch, len(f.sims))
		for _, s := range f.sims[from:to] {
			f.wg.Go(func() { s.client.Run(ctx) })
		}
		if err := waitFor(timeout, func() bool { return f.applied.Load() >= int64(to) }); err != nil {
			return fmt.Errorf("propagation: %d of %d simulated ambassadors have their first table: %w", f.applied.Load(), to, err)
		}
	}
	return nil
}

// stop closes every stream and waits for the clients to return.
func (f *fleet) stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
}

// waitFor polls cond every millisecond until it holds or timeout passes.
// The polling only decides when to stop waiting: the times measured are
// taken by the Appliers themselves.
func waitFor(timeout time.Duration, cond func() bool) error {
	for deadline := time.Now().Add(timeout); ; time.Sleep(time.Millisecond) {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", timeout)
		}
	}
}
