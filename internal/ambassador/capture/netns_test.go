package capture_test

// Tests against the kernel: each installs into a network namespace it
// creates (nstest.NewNS) and looks at it with the nft command run
// inside that namespace. They need root, ip and nft; without them they
// skip, except under CI=true, where they fail.

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
	"github.com/meshlite/meshlite/internal/ambassador/capture/nstest"
)

// listing is what nft prints for the meshlite table in ns.
func listing(t *testing.T, ns nstest.NS) string {
	t.Helper()
	return normalize(ns.Nft(t, "list", "table", "inet", capture.TableName))
}

// normalize hides one difference between nft versions: nft 1.0.6 prints
// the nat chain's priority as -100 (it names -100 "dstnat" only on the
// prerouting hook), later releases may call it dstnat on output too. The
// rendering follows 1.0.x; the kernel holds the number either way.
func normalize(listing string) string {
	return strings.ReplaceAll(listing, "hook output priority dstnat;", "hook output priority -100;")
}

func TestInstalledTableListsAsRendered(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			ns := nstest.NewNS(t)
			rs, err := capture.New(tc.opts())
			if err != nil {
				t.Fatal(err)
			}
			if err := capture.Netlink(ns.FD).Install(rs); err != nil {
				t.Fatal(err)
			}
			if got, want := listing(t, ns), rs.String(); got != want {
				t.Errorf("nft list table inet meshlite:\n%s\nwant the rendering:\n%s", got, want)
			}
		})
	}
}

// handles are the numbers nft --debug=netlink prints after the table and
// chain name of a rule: they count the namespace's history, not the rule.
var handles = regexp.MustCompile(`(?m)^(inet meshlite \S+)( \d+)+$`)

// TestInstalledBytecodeIsNftsOwn loads the rendering with nft -f into a
// second namespace and compares the kernel's expressions for both: the
// netlink install must compile each rule exactly as nft compiles its text,
// not merely to something nft prints alike.
func TestInstalledBytecodeIsNftsOwn(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := capture.New(tc.opts())
			if err != nil {
				t.Fatal(err)
			}
			assertBytecodeIsNfts(t, rs)
		})
	}
}

// TestCtStatesInstallAsNftCompilesThem installs a chain that matches every
// case of ctStateCases, not only the states New uses: each lists back as
// its rendering and compiles as nft compiles it.
func TestCtStatesInstallAsNftCompilesThem(t *testing.T) {
	chain := capture.Chain{Name: capture.FilterChain, Type: "filter"}
	for _, tc := range ctStateCases {
		chain.Rules = append(chain.Rules, capture.Rule{Match: []capture.Match{tc.state}, Verdict: capture.Drop{}})
	}
	rs := &capture.Ruleset{Chains: []capture.Chain{chain}}
	ns := nstest.NewNS(t)
	if err := capture.Netlink(ns.FD).Install(rs); err != nil {
		t.Fatal(err)
	}
	if got, want := listing(t, ns), rs.String(); got != want {
		t.Errorf("nft list table inet meshlite:\n%s\nwant the rendering:\n%s", got, want)
	}
	assertBytecodeIsNfts(t, rs)
}

// assertBytecodeIsNfts installs rs over netlink into one new namespace and
// loads its rendering with nft -f into another, and compares the kernel's
// expressions for both.
func assertBytecodeIsNfts(t *testing.T, rs *capture.Ruleset) {
	t.Helper()
	ours, theirs := nstest.NewNS(t), nstest.NewNS(t)
	if err := capture.Netlink(ours.FD).Install(rs); err != nil {
		t.Fatal(err)
	}
	load := theirs.Command("nft", "-f", "-")
	load.Stdin = strings.NewReader(rs.String())
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("nft -f of the rendering: %v: %s", err, out)
	}
	bytecode := func(ns nstest.NS) string {
		out := ns.Nft(t, "--debug=netlink", "list", "table", "inet", capture.TableName)
		return sortSetElements(handles.ReplaceAllString(out, "$1"))
	}
	if got, want := bytecode(ours), bytecode(theirs); got != want {
		t.Errorf("installed over netlink:\n%s\nnft -f of the rendering:\n%s", got, want)
	}
}

// sortSetElements sorts each run of set element lines: the kernel dumps a
// hash set in an order of its own, which says nothing about the set.
func sortSetElements(dump string) string {
	lines := strings.Split(dump, "\n")
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[j]), "element ") {
			j++
		}
		if j > i {
			slices.Sort(lines[i:j])
			i = j
		} else {
			i++
		}
	}
	return strings.Join(lines, "\n")
}

func TestInstallTwiceGivesTheSameRuleset(t *testing.T) {
	ns := nstest.NewNS(t)
	inst := capture.Netlink(ns.FD)
	rs, err := capture.New(goldenCases[1].opts())
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Install(rs); err != nil {
		t.Fatal(err)
	}
	first := ns.Nft(t, "list", "ruleset")
	if err := inst.Install(rs); err != nil {
		t.Fatalf("second install: %v", err)
	}
	if second := ns.Nft(t, "list", "ruleset"); second != first {
		t.Errorf("after the second install:\n%s\nafter the first:\n%s", second, first)
	}
}

func TestInstallReplacesAnotherMeshliteTable(t *testing.T) {
	ns := nstest.NewNS(t)
	inst := capture.Netlink(ns.FD)
	wide, err := capture.New(goldenCases[1].opts()) // exclusions and DNS
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := capture.New(goldenCases[5].opts()) // no DNS
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Install(wide); err != nil {
		t.Fatal(err)
	}
	if err := inst.Install(narrow); err != nil {
		t.Fatal(err)
	}
	if got, want := listing(t, ns), narrow.String(); got != want {
		t.Errorf("after replacing:\n%s\nwant:\n%s", got, want)
	}
}

func TestRemoveLeavesOtherTablesAsTheyWere(t *testing.T) {
	ns := nstest.NewNS(t)
	load := ns.Command("nft", "-f", "-")
	load.Stdin = strings.NewReader(`table inet other {
	chain out {
		type filter hook output priority 10; policy accept;
		tcp dport 9 counter drop
	}
}
table ip legacy {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
	}
}
`)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	before := ns.Nft(t, "list", "ruleset")
	inst := capture.Netlink(ns.FD)
	rs, err := capture.New(defaults())
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Install(rs); err != nil {
		t.Fatal(err)
	}
	if during := ns.Nft(t, "list", "ruleset"); !strings.Contains(during, "table inet meshlite {") || !strings.Contains(during, "table inet other {") {
		t.Fatalf("after install, want both tables:\n%s", during)
	}
	if err := inst.Remove(); err != nil {
		t.Fatal(err)
	}
	if after := ns.Nft(t, "list", "ruleset"); after != before {
		t.Errorf("after remove:\n%s\nbefore install:\n%s", after, before)
	}
	if err := inst.Remove(); err != nil {
		t.Errorf("remove without a table: %v, want no error", err)
	}
	if after := ns.Nft(t, "list", "ruleset"); after != before {
		t.Errorf("after a second remove:\n%s\nbefore install:\n%s", after, before)
	}
}
