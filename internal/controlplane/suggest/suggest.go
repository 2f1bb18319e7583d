// Package suggest turns ambassador audit lines into RouteTables that would
// allow what was seen (controlplane suggest), or into a report of what
// enforce mode would deny (controlplane suggest --report).
//
// It reads the lines in one streaming pass; memory grows with the number of
// distinct destinations per workload, never with the number of lines.
package suggest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshlite/meshlite/pkg/routes"
)

// Defaults of the Options fields whose zero value means "the default".
const (
	DefaultPathDepth    = 1
	DefaultWildcardMin  = 3
	DefaultMaxLineBytes = 1 << 20 // 1 MiB
	// maxPathsPerDest bounds the distinct method and path prefixes kept per
	// host and port; past it the destination's rule allows every path.
	maxPathsPerDest = 256
)

// Options say what to suggest. The zero value suggests one rule per host
// with the ports seen, from every line.
type Options struct {
	// Paths adds the methods and path prefixes seen to each rule.
	Paths bool
	// PathDepth is how many leading path segments a suggested prefix keeps
	// (/a/b/c at depth 1 is /a); 0 means DefaultPathDepth.
	PathDepth int
	// WildcardMin is how many distinct subdomains of one registrable domain
	// make a "*.domain" rule; 0 means DefaultWildcardMin.
	WildcardMin int
	// MinCount drops destinations (host:port) seen fewer times; 0 and 1 keep
	// everything.
	MinCount int
	// Since and Until keep lines with Since <= ts < Until; zero means
	// unbounded.
	Since, Until time.Time
	// Workload names the workload of lines that have no "workload" field;
	// "" makes such a line an error.
	Workload string
	// Merge is a RouteTable file to start from: only what it does not allow
	// yet is added. "" means start from nothing.
	Merge string
	// Report prints what enforce mode would deny instead of tables.
	Report bool
	// OutDir, when set, receives one file per workload (DIR/<workload>.yaml)
	// instead of a YAML stream on stdout.
	OutDir string
	// MaxLineBytes is the longest audit line read; longer lines are skipped
	// and counted. 0 means DefaultMaxLineBytes.
	MaxLineBytes int
	// Progress, when set, receives a progress line every million lines (a
	// terminal: each line overwrites the last).
	Progress io.Writer
}

func (o Options) withDefaults() (Options, error) {
	if o.PathDepth == 0 {
		o.PathDepth = DefaultPathDepth
	}
	if o.WildcardMin == 0 {
		o.WildcardMin = DefaultWildcardMin
	}
	if o.MaxLineBytes == 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	var errs []error
	if o.PathDepth < 0 {
		errs = append(errs, fmt.Errorf("--path-depth %d: must be at least 1", o.PathDepth))
	}
	if o.WildcardMin < 0 {
		errs = append(errs, fmt.Errorf("--wildcard-min %d: must be at least 1", o.WildcardMin))
	}
	if o.MinCount < 0 {
		errs = append(errs, fmt.Errorf("--min-count %d: must be at least 1", o.MinCount))
	}
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Since.Before(o.Until) {
		errs = append(errs, fmt.Errorf("--since %s is not before --until %s", stamp(o.Since), stamp(o.Until)))
	}
	if o.Workload != "" {
		if err := checkWorkload(o.Workload); err != nil {
			errs = append(errs, fmt.Errorf("--workload: %w", err))
		}
	}
	if o.Report && o.Merge != "" {
		errs = append(errs, errors.New("--merge and --report do not go together (the report does not write tables)"))
	}
	if o.Report && o.OutDir != "" {
		errs = append(errs, errors.New("-o and --report do not go together (the report goes to stdout)"))
	}
	return o, errors.Join(errs...)
}

// Run reads the audit lines of files ("-" or none: stdin) and writes the
// suggested tables (or the report) to stdout or opts.OutDir; counts,
// dropped destinations, lines that will stay denied and the merge diff go
// to stderr. Errors start with "suggest: ".
func Run(opts Options, files []string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return prefix(err)
	}
	var base *mergeBase
	if opts.Merge != "" {
		if base, err = loadMergeBase(opts.Merge); err != nil {
			return prefix(err)
		}
	}
	agg, err := readAll(opts, files, stdin)
	if err != nil {
		return prefix(err)
	}
	agg.stats.write(stderr)
	if opts.Report {
		if len(agg.workloads) == 0 {
			return errors.New("suggest: no audit lines to report on" + agg.stats.why())
		}
		writeReport(stdout, agg)
		return nil
	}
	tables, err := buildTables(agg, opts, base, stderr)
	if err != nil {
		return prefix(err)
	}
	if len(tables) == 0 {
		return errors.New("suggest: no audit lines to suggest from" + agg.stats.why())
	}
	return prefix(writeTables(tables, opts.OutDir, stdout, stderr))
}

// writeTables writes the tables as one YAML stream, or one file each.
func writeTables(tables []table, dir string, stdout, stderr io.Writer) error {
	if dir == "" {
		for i, t := range tables {
			if i > 0 {
				if _, err := io.WriteString(stdout, "---\n"); err != nil {
					return err
				}
			}
			if _, err := stdout.Write(t.yaml); err != nil {
				return err
			}
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, t := range tables {
		name := filepath.Join(dir, t.workload+".yaml")
		if err := os.WriteFile(name, t.yaml, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "suggest: wrote %s (%d rules)\n", name, t.rules)
	}
	return nil
}

func prefix(err error) error {
	if err == nil {
		return nil
	}
	if strings.HasPrefix(err.Error(), "suggest: ") {
		return err
	}
	return fmt.Errorf("suggest: %w", err)
}

// stamp formats a time as the tables and reports print it.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// checkWorkload returns the RouteTable validation problem of name as a
// metadata.name (and so a file name under -o), nil when it is fine.
func checkWorkload(name string) error {
	rt := routes.RouteTable{APIVersion: routes.APIVersion, Kind: routes.Kind, Metadata: routes.Metadata{Name: name}}
	return rt.Validate()
}
