package suggest

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// AddFlags defines the flags of controlplane suggest on fs, filling o.
func AddFlags(fs *pflag.FlagSet, o *Options) {
	fs.StringVarP(&o.OutDir, "output", "o", "", "write one file per workload, DIR/<workload>.yaml, instead of a YAML stream on stdout")
	fs.BoolVar(&o.Paths, "paths", false, "add the methods and path prefixes seen to each rule")
	fs.IntVar(&o.PathDepth, "path-depth", DefaultPathDepth, "with --paths: keep this many leading path segments (/a/b/c at 1 is /a)")
	fs.IntVar(&o.WildcardMin, "wildcard-min", DefaultWildcardMin, "suggest *.domain when at least this many subdomains of one registrable domain were seen")
	fs.IntVar(&o.MinCount, "min-count", 1, "drop destinations (host:port) seen fewer times (listed on stderr)")
	fs.Var((*timeFlag)(&o.Since), "since", "only lines with ts at or after this time (RFC 3339)")
	fs.Var((*timeFlag)(&o.Until), "until", "only lines with ts before this time (RFC 3339)")
	fs.StringVar(&o.Merge, "merge", "", "start from this RouteTable file and add only what it does not allow yet (diff on stderr)")
	fs.StringVar(&o.Workload, "workload", "", `the workload of lines that have no "workload" field`)
	fs.BoolVar(&o.Report, "report", false, "print what enforce mode would deny, per workload, instead of tables")
}

// timeFlag is a time.Time flag written in RFC 3339.
type timeFlag time.Time

func (t *timeFlag) String() string {
	if time.Time(*t).IsZero() {
		return ""
	}
	return time.Time(*t).Format(time.RFC3339Nano)
}

func (t *timeFlag) Set(s string) error {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 time (write 2026-11-25T00:00:00Z)", s)
	}
	*t = timeFlag(v)
	return nil
}

func (t *timeFlag) Type() string { return "time" }
