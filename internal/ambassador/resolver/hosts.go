package resolver

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// hostsRecheck is how often the hosts file is checked for changes.
const hostsRecheck = 5 * time.Second

// hostsFile answers from the hosts file ("ADDRESS NAME [ALIAS...]"), as
// the standard resolver does before it asks DNS. It is re-read when its
// modification time or size changes; a missing file has no names.
type hostsFile struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	checked time.Time
	mod     time.Time
	size    int64
	names   map[string][]netip.Addr
}

// lookup returns the addresses the file gives name (lower case, no
// trailing dot), in file order.
func (h *hostsFile) lookup(name string) []netip.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := h.now(); h.names == nil || now.Sub(h.checked) >= hostsRecheck {
		h.checked = now
		h.refresh()
	}
	return h.names[name]
}

func (h *hostsFile) refresh() {
	fi, err := os.Stat(h.path)
	if err != nil {
		h.names, h.mod, h.size = map[string][]netip.Addr{}, time.Time{}, 0
		return
	}
	if h.names != nil && fi.ModTime().Equal(h.mod) && fi.Size() == h.size {
		return
	}
	h.mod, h.size = fi.ModTime(), fi.Size()
	h.names = parseHosts(h.path)
}

func parseHosts(path string) map[string][]netip.Addr {
	names := map[string][]netip.Addr{}
	f, err := os.Open(path)
	if err != nil {
		return names
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		addr, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		for _, n := range fields[1:] {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			names[n] = append(names[n], addr)
		}
	}
	return names
}
