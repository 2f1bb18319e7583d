package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
)

// DefaultResolvConf is where the resolvers come from when --dns is not given.
const DefaultResolvConf = "/etc/resolv.conf"

// ReadResolvConf returns the addresses of the nameserver lines of the
// resolv.conf file at path, in order. Comments (# or ;) are ignored, and an
// IPv6 address may carry a zone (fe80::1%eth0). A missing file means no
// resolvers; a nameserver line that is not an address is an error naming the
// file and line.
func ReadResolvConf(path string) ([]netip.Addr, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("capture: resolvers: %w", err)
	}
	var addrs []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			return nil, fmt.Errorf("capture: resolvers: %s:%d: nameserver %q is not an IP address (fix the file or pass %s)", path, n, fields[1], FlagDNS)
		}
		addrs = append(addrs, a)
	}
	return addrs, sc.Err()
}
