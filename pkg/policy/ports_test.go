package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestPortRangeYAML(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []PortRange
		wantErr string
	}{
		{name: "integer", doc: "ports: [443]", want: []PortRange{{443, 443}}},
		{name: "string port", doc: `ports: ["8080"]`, want: []PortRange{{8080, 8080}}},
		{name: "range", doc: `ports: ["8000-8100", 22]`, want: []PortRange{{8000, 8100}, {22, 22}}},
		{name: "reversed range parses, validation reports it", doc: `ports: ["9-3"]`, want: []PortRange{{9, 3}}},
		{name: "zero parses, validation reports it", doc: `ports: [0]`, want: []PortRange{{0, 0}}},
		{name: "too large", doc: "ports: [65536]", wantErr: `line 1: ports: port "65536": above 65535`},
		{name: "negative", doc: "ports: [-1]", wantErr: `port "-1": negative`},
		{name: "word", doc: "ports: [https]", wantErr: `port "https": not a number`},
		{name: "open range", doc: `ports: ["8000-"]`, wantErr: `port range "8000-": empty`},
		{name: "float", doc: "ports: [443.5]", wantErr: `port "443.5": not a number`},
		{name: "mapping", doc: "ports: [{from: 1}]", wantErr: "must be a port or range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v struct{ Ports []PortRange }
			err := yaml.Unmarshal([]byte(tt.doc), &v)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(v.Ports, tt.want) {
				t.Fatalf("ports = %v, want %v", v.Ports, tt.want)
			}
		})
	}
}

func TestPortRangeJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []PortRange
		wantErr string
	}{
		{name: "number and range", in: `[443, "8000-8100"]`, want: []PortRange{{443, 443}, {8000, 8100}}},
		{name: "string port", in: `["80"]`, want: []PortRange{{80, 80}}},
		{name: "too large", in: `[70000]`, wantErr: `port "70000": above 65535`},
		{name: "word", in: `["http"]`, wantErr: `port "http": not a number`},
		{name: "bool", in: `[true]`, wantErr: `port "true": not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []PortRange
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ports = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPortRangeMarshalRoundTrip(t *testing.T) {
	in := []PortRange{{443, 443}, {8000, 8100}}
	j, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(j) != `[443,"8000-8100"]` {
		t.Fatalf("json = %s", j)
	}
	y, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(y) != "- 443\n- 8000-8100\n" {
		t.Fatalf("yaml = %q", y)
	}
	var back []PortRange
	if err := yaml.Unmarshal(y, &back); err != nil || !slices.Equal(back, in) {
		t.Fatalf("yaml round trip = %v, %v", back, err)
	}
}
