package routes

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// String writes d the way it is read: "5s", "250ms", "1m30s"; "0s" for zero.
func (d Duration) String() string { return time.Duration(d).String() }

// parseDuration reads "5s", "250ms" (time.ParseDuration). A bare "0" is
// accepted; negative values parse here and are rejected by Validate, so the
// error can name the field.
func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use a number with a unit: 250ms, 5s, 1m)", s)
	}
	return Duration(v), nil
}

// MarshalYAML writes the duration as a string ("5s").
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string ("5s", "250ms"). Errors are
// *yaml.TypeError so that decoding goes on and reports every problem.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf(
			"line %d: a duration must be a string such as 5s or 250ms", n.Line)}}
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

// MarshalJSON writes the duration as a JSON string ("5s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a JSON string such as "5s" or "250ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("routes: a duration must be a JSON string such as \"5s\", got %s", b)
	}
	v, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	*d = v
	return nil
}
