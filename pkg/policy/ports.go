package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ParsePortRange parses "443" or "8000-8100". It checks the syntax and that
// each number fits in 0..65535; ValidateRules checks 1..65535 and From <= To
// so that those problems are reported with a field path.
func ParsePortRange(s string) (PortRange, error) {
	if strings.HasPrefix(s, "-") {
		return PortRange{}, fmt.Errorf("port %q: negative (use 1..65535)", s)
	}
	from, to, isRange := strings.Cut(s, "-")
	lo, err := parsePortNumber(from)
	if err != nil {
		return PortRange{}, fmt.Errorf("port %q: %v (write 443 or \"8000-8100\")", s, err)
	}
	if !isRange {
		return PortRange{From: lo, To: lo}, nil
	}
	hi, err := parsePortNumber(to)
	if err != nil {
		return PortRange{}, fmt.Errorf("port range %q: %v (write \"8000-8100\")", s, err)
	}
	return PortRange{From: lo, To: hi}, nil
}

// parsePortNumber accepts decimal digits only, up to 65535.
func parsePortNumber(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return 0, errors.New("above 65535")
		}
	}
	return uint16(n), nil
}

// Contains reports whether port is inside the range.
func (r PortRange) Contains(port uint16) bool { return r.From <= port && port <= r.To }

// String returns "443" for a single port and "8000-8100" for a range.
func (r PortRange) String() string {
	if r.From == r.To {
		return strconv.Itoa(int(r.From))
	}
	return strconv.Itoa(int(r.From)) + "-" + strconv.Itoa(int(r.To))
}

// UnmarshalYAML accepts an integer (443) or a string ("443", "8000-8100").
func (r *PortRange) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: ports: each entry must be a port or range, like 443 or \"8000-8100\"", n.Line)
	}
	pr, err := ParsePortRange(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: ports: %v", n.Line, err)
	}
	*r = pr
	return nil
}

// MarshalYAML writes a single port as an integer and a range as a string.
func (r PortRange) MarshalYAML() (any, error) {
	if r.From == r.To {
		return int(r.From), nil
	}
	return r.String(), nil
}

// UnmarshalJSON accepts a number (443) or a string ("443", "8000-8100").
func (r *PortRange) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("ports: %s: %v", b, err)
		}
	}
	pr, err := ParsePortRange(s)
	if err != nil {
		return fmt.Errorf("ports: %v", err)
	}
	*r = pr
	return nil
}

// MarshalJSON writes a single port as a number and a range as a string.
func (r PortRange) MarshalJSON() ([]byte, error) {
	if r.From == r.To {
		return strconv.AppendUint(nil, uint64(r.From), 10), nil
	}
	return json.Marshal(r.String())
}
