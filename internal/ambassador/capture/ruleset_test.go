package capture_test

import (
	"testing"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
)

// ctStateCases are spelled as nft 1.0.6 lists them: state by state in the
// kernel's bit order, whatever order the input named them in, a bit
// without a name in hex.
var ctStateCases = []struct {
	name  string
	state capture.CtState
	want  string
}{
	{"invalid", capture.CtInvalid, "ct state invalid"},
	{"established or related", capture.CtRelated | capture.CtEstablished, "ct state established,related"},
	{"new", capture.CtNew, "ct state new"},
	{"every named state", capture.CtUntracked | capture.CtNew | capture.CtRelated | capture.CtEstablished | capture.CtInvalid, "ct state invalid,established,related,new,untracked"},
	{"bits without a name", capture.CtInvalid | 0x30, "ct state invalid,0x10,0x20"},
}

func TestCtStateString(t *testing.T) {
	for _, tc := range ctStateCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.state.String(); got != tc.want {
				t.Errorf("CtState(%#x).String() = %q, want %q", uint32(tc.state), got, tc.want)
			}
		})
	}
}

func TestFilterDropsInvalidBetweenExemptionsAndAccepts(t *testing.T) {
	rs, err := capture.New(defaults())
	if err != nil {
		t.Fatal(err)
	}
	var filter capture.Chain
	for _, c := range rs.Chains {
		if c.Name == capture.FilterChain {
			filter = c
		}
	}
	var got []string
	for _, r := range filter.Rules {
		got = append(got, r.String())
	}
	// After the exemptions that skip the capture on purpose, before any
	// rule that accepts on conntrack state or protocol.
	want := []string{
		"meta skuid 1337 meta skgid 1337 accept",
		`oifname "lo" accept`,
		"ct state invalid drop",
		"ct state established,related accept",
		"meta l4proto tcp accept",
	}
	if len(got) < len(want) {
		t.Fatalf("filter_output has %d rules, want at least %d:\n%s", len(got), len(want), rs)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("filter_output rule %d = %q, want %q\n%s", i, got[i], want[i], rs)
		}
	}
}
