package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/meshlite/meshlite/internal/controlplane/source"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
)

// Options configure the Kubernetes source. Config is required.
type Options struct {
	// Config reaches the API server (RESTConfig builds it).
	Config *rest.Config
	// Encode converts a validated table into its xDS resource; nil means
	// source.EncodeProto.
	Encode source.Encoder
	// Ambassadors lists the ambassadors connected to this replica
	// (xds.Server.Ambassadors), for the status counts; nil counts none.
	Ambassadors func() []xds.Ambassador
	// Logger receives table and status events; nil discards them.
	Logger *slog.Logger
	// Registerer receives the source's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// LeaseNamespace and LeaseName name the Lease that elects the status
	// writer. Required.
	LeaseNamespace, LeaseName string
	// Identity is this replica in the Lease; "" means POD_NAME, else the
	// host name, with a random suffix.
	Identity string
	// StatusInterval is the shortest time between two status passes (each
	// writes only the RouteTables whose status changed); 0 means 1s.
	StatusInterval time.Duration
	// Lease timings; 0 means client-go's usual 15s, 10s and 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Resync re-delivers every object to the handlers this often; 0 means
	// never (a watch that breaks is relisted by the informer anyway).
	Resync time.Duration
	// Window coalesces bursts of changes (source.Coalescer): an isolated
	// change is published at once, further changes within Window of a
	// publication together when it ends. 0 means 100ms.
	Window time.Duration
}

// Source reads RouteTable resources and writes their status; it implements
// source.Source. The embedded Publisher gives it Subscribe and Current; the
// Coalescer decides when informer events are published.
type Source struct {
	*source.Publisher
	opts     Options
	log      *slog.Logger
	metrics  *metrics
	dyn      dynamic.Interface
	kube     kubernetes.Interface
	coalesce *source.Coalescer

	mu      sync.Mutex
	entries map[string]*entry // by xDS name, "<namespace>/<name>"
}

var _ source.Source = (*Source)(nil)

// entry is one RouteTable: the generation last loaded and what is served.
type entry struct {
	namespace, name string
	uid             string
	generation      int64
	served          *source.Table // last good version; nil when none
	problems        []string      // of the latest generation; nil when it is good
}

// New builds the source; Run starts it.
func New(opts Options) (*Source, error) {
	if opts.Config == nil {
		return nil, errors.New("kube: no API server configuration")
	}
	if opts.LeaseNamespace == "" || opts.LeaseName == "" {
		return nil, errors.New("kube: the status Lease needs a namespace and a name")
	}
	if opts.Encode == nil {
		opts.Encode = source.EncodeProto
	}
	if opts.Ambassadors == nil {
		opts.Ambassadors = func() []xds.Ambassador { return nil }
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 100 * time.Millisecond
	}
	if opts.Identity == "" {
		opts.Identity = defaultIdentity()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	cfg := rest.CopyConfig(opts.Config)
	cfg.UserAgent = "meshlite-controlplane"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	m := newMetrics(reg)
	s := &Source{
		Publisher: source.NewPublisher(log.With("component", "kube"), m.Published),
		opts:      opts, log: log.With("component", "kube"), metrics: m,
		dyn: dyn, kube: kc, entries: map[string]*entry{},
	}
	s.coalesce = source.NewCoalescer(opts.Window, 10*opts.Window, s.publish)
	return s, nil
}

// defaultIdentity is POD_NAME (else the host name) with a random suffix,
// so that a restarted replica does not take over its predecessor's lease
// before it expires.
func defaultIdentity() string {
	id := os.Getenv("POD_NAME")
	if id == "" {
		id, _ = os.Hostname()
	}
	return id + "_" + randomSuffix()
}

// Run watches RouteTables in every namespace, publishes a snapshot once the
// first list is in and after every change (an isolated change at once, a
// burst once per Window), and takes part in the election of the status
// writer, until ctx is done. It fails only when the first
// list cannot be made before ctx ends.
func (s *Source) Run(ctx context.Context) error {
	factory := dynamicinformer.NewDynamicSharedInformerFactory(s.dyn, s.opts.Resync)
	inf := factory.ForResource(GVR).Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.upsert(obj) },
		UpdateFunc: func(_, obj any) { s.upsert(obj) },
		DeleteFunc: s.remove,
	}); err != nil {
		return fmt.Errorf("kube: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	s.log.Info("kube: watching RouteTables", "resource", GVR.String())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("kube: RouteTables were never listed (is the CRD installed, and may this ServiceAccount list routetables.meshlite.io?): %w", context.Cause(ctx))
	}
	s.publish()
	var wg sync.WaitGroup
	wg.Go(func() { s.elect(ctx, inf.GetStore()) })
	wg.Go(func() { s.coalesce.Run(ctx) })
	wg.Wait()
	return nil
}

// upsert loads a RouteTable whose generation is new; status writes, which
// leave the generation alone, are skipped.
func (s *Source) upsert(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	key := keyOf(u)
	s.mu.Lock()
	e := s.entries[key]
	if e != nil && e.uid == string(u.GetUID()) && e.generation == u.GetGeneration() {
		s.mu.Unlock()
		return
	}
	var served *source.Table
	if e != nil && e.uid == string(u.GetUID()) {
		served = e.served
	}
	s.mu.Unlock()

	l := load(u, s.opts.Encode, time.Now())
	next := &entry{namespace: u.GetNamespace(), name: u.GetName(), uid: string(u.GetUID()), generation: u.GetGeneration(),
		served: served, problems: l.problems}
	switch {
	case l.table == nil:
		s.metrics.TableErrors.Inc()
		attrs := []any{"table", reference(u), "generation", u.GetGeneration(), "error", strings.Join(l.problems, "; ")}
		if served != nil {
			attrs = append(attrs, "serving_version", served.Version)
		}
		s.log.Error("kube: invalid RouteTable; the last good version, if any, keeps serving", attrs...)
	case served != nil && served.Version == l.table.Version:
		// same content: keep the first load time of this version
	default:
		next.served = l.table
		s.log.Debug("kube: table loaded", "table", reference(u), "version", l.table.Version, "generation", u.GetGeneration())
	}
	s.mu.Lock()
	s.entries[key] = next
	s.mu.Unlock()
	s.notify()
}

func (s *Source) remove(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	s.mu.Lock()
	delete(s.entries, keyOf(u))
	s.mu.Unlock()
	s.log.Debug("kube: table removed", "table", reference(u))
	s.notify()
}

// notify signals a complete change: informer events are whole objects.
func (s *Source) notify() { s.coalesce.Changed() }

func keyOf(u *unstructured.Unstructured) string { return u.GetNamespace() + "/" + u.GetName() }

// publish builds a snapshot of every entry and publishes it when it
// differs from the current one, reporting whether it did (the Coalescer's
// flush: an informer resync that changes nothing opens no window).
func (s *Source) publish() bool {
	s.mu.Lock()
	snap := source.Snapshot{Tables: make(map[string]*source.Table, len(s.entries))}
	problems := 0
	for key, e := range s.entries {
		st := source.TableStatus{Name: key, File: Kind + " " + key, LastError: strings.Join(e.problems, "; ")}
		if e.served != nil {
			snap.Tables[key] = e.served
			st.Version, st.Updated = e.served.Version, e.served.Loaded
		}
		if st.LastError != "" {
			problems++
		}
		snap.Status = append(snap.Status, st)
	}
	s.mu.Unlock()
	slices.SortFunc(snap.Status, func(a, b source.TableStatus) int { return strings.Compare(a.Name, b.Name) })
	s.metrics.Tables.Set(float64(len(snap.Tables)))
	s.metrics.Problems.Set(float64(problems))
	return s.Publish(snap)
}

// entry returns a copy of key's entry: what is served and the latest
// generation's problems.
func (s *Source) entry(key string) (e entry, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.entries[key]; p != nil {
		return *p, true
	}
	return entry{}, false
}
