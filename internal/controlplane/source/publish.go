package source

import (
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Publisher keeps a source's current snapshot and hands every new one to
// the subscribers; embedding it gives a source Subscribe and Current.
type Publisher struct {
	log       *slog.Logger
	published prometheus.Counter // nil counts nothing

	mu      sync.Mutex
	current Snapshot
	ready   bool
	subs    []chan Snapshot
}

// NewPublisher returns a Publisher that logs the tables each snapshot
// loads and removes to log (nil discards) and counts its publications in
// published (nil counts nothing), before subscribers receive them.
func NewPublisher(log *slog.Logger, published prometheus.Counter) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{log: log, published: published}
}

// Subscribe implements Source.
func (p *Publisher) Subscribe() <-chan Snapshot {
	ch := make(chan Snapshot, 1)
	p.mu.Lock()
	p.subs = append(p.subs, ch)
	p.mu.Unlock()
	return ch
}

// Current implements Source.
func (p *Publisher) Current() (Snapshot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current, p.ready
}

// Publish makes snap current and sends it to every subscriber, unless it
// serves and reports exactly what the current one does. It reports whether
// it published; the first call always does (it makes the source ready).
func (p *Publisher) Publish(snap Snapshot) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready && sameSnapshot(p.current, snap) {
		return false
	}
	for name, t := range snap.Tables {
		if old := p.current.Tables[name]; old == nil || old.Version != t.Version {
			p.log.Info("source: table loaded", "table", name, "version", t.Version, "file", t.File)
		}
	}
	for name := range p.current.Tables {
		if snap.Tables[name] == nil {
			p.log.Info("source: table removed", "table", name)
		}
	}
	p.current, p.ready = snap, true
	if p.published != nil {
		p.published.Inc()
	}
	for _, ch := range p.subs {
		select { // keep only the latest snapshot
		case <-ch:
		default:
		}
		ch <- snap
	}
	return true
}

func sameSnapshot(a, b Snapshot) bool {
	if len(a.Tables) != len(b.Tables) || len(a.Status) != len(b.Status) {
		return false
	}
	for name, t := range a.Tables {
		if u := b.Tables[name]; u == nil || u.Version != t.Version || u.File != t.File {
			return false
		}
	}
	for i := range a.Status {
		if a.Status[i] != b.Status[i] {
			return false
		}
	}
	return true
}
