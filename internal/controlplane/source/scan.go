package source

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// maxFileBytes bounds one RouteTable file; a ConfigMap holds at most 1 MiB.
const maxFileBytes = 1 << 20

// fileResult is what one file produced at one content hash.
type fileResult struct {
	path string
	hash [sha256.Size]byte
	// name is metadata.name, best effort: it is known for most invalid files
	// too, so their errors attach to the right table.
	name string
	// table is nil when the file is invalid.
	table *Table
	// problems are the file's own errors, one per problem, without the file
	// name.
	problems []string
	// warnings are the file's deprecations (spec.routes[1].retry.on at line
	// 16), one per field; the table loads regardless.
	warnings []*routes.Warning
	// warned says whether the warnings of this content were logged.
	warned bool
	// duplicate names the other valid files defining the same table, this
	// scan.
	duplicate []string
	// reported is the error text last logged and counted for this file.
	reported string
	// stamp is the file's identity when it was read at readAt; it is not
	// valid when the file could not be read.
	stamp  fileStamp
	readAt time.Time
}

// errorText is the file's current problem in one line, "" when good.
func (r *fileResult) errorText() string {
	all := r.problems
	if len(r.duplicate) > 0 {
		all = append(slices.Clip(all), fmt.Sprintf("metadata.name: table %q is also defined in %s (each table must come from one file)",
			r.name, listNames(r.duplicate)))
	}
	return strings.Join(all, "; ")
}

// scanner turns the directory into a Snapshot, remembering the last good
// table of every name between scans.
type scanner struct {
	dir      string
	encode   Encoder
	now      func() time.Time
	files    map[string]*fileResult // by path
	lastGood map[string]*Table      // by table name
	reads    uint64                 // files read, ever
}

func newScanner(dir string, encode Encoder) *scanner {
	return &scanner{
		dir:      dir,
		encode:   encode,
		now:      time.Now,
		files:    map[string]*fileResult{},
		lastGood: map[string]*Table{},
	}
}

// scanMode says which files a scan reads.
type scanMode int

const (
	// readAll reads every file.
	readAll scanMode = iota
	// readChanged reads only the files whose stamp changed (or is not
	// trusted) since they were last read.
	readChanged
)

// scan reads the directory. fresh lists the files whose error is new since
// the previous scan (to log and count once). The error is for a directory
// that cannot be listed; the previous state is then kept.
func (s *scanner) scan(mode scanMode) (snap Snapshot, fresh []*fileResult, err error) {
	readAt := s.now()
	listed, err := listFiles(s.dir)
	if err != nil {
		return Snapshot{}, nil, err
	}
	files := make(map[string]*fileResult, len(listed))
	var toRead []listedFile
	for _, f := range listed {
		if prev := s.files[f.path]; mode == readChanged && prev != nil && prev.stamp.unchangedSince(prev.readAt, f.stamp) {
			prev.duplicate = nil
			files[f.path] = prev
			continue
		}
		toRead = append(toRead, f)
	}
	for i, r := range s.readFiles(toRead, readAt) {
		if r != nil {
			files[toRead[i].path] = r
		}
	}
	s.files = files
	byName := s.markDuplicates()
	for _, r := range files {
		if text := r.errorText(); text != r.reported {
			r.reported = text
			if text != "" {
				fresh = append(fresh, r)
			}
		}
	}
	return s.snapshot(byName), fresh, nil
}

// readFiles reads list with one worker per CPU and returns the results in
// list's order: when every table changed, parsing and compiling the files
// is most of a scan. Workers share only reads of s.files, and each touches
// only its own file's previous result.
func (s *scanner) readFiles(list []listedFile, readAt time.Time) []*fileResult {
	out := make([]*fileResult, len(list))
	s.reads += uint64(len(list))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(list)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(list); i = int(next.Add(1) - 1) {
				out[i] = s.readFile(list[i], readAt)
			}
		})
	}
	wg.Wait()
	return out
}

// readFile loads one file, reusing the previous result when its content has
// not changed, and records the stamp it was listed with when it could be
// read. nil means the file vanished since it was listed.
func (s *scanner) readFile(f listedFile, readAt time.Time) *fileResult {
	path := f.path
	prev := s.files[path]
	data, err := readBounded(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		r := &fileResult{path: path, problems: []string{err.Error()}}
		if prev != nil {
			r.name, r.reported = prev.name, prev.reported
		}
		return r
	}
	hash := sha256.Sum256(data)
	if prev != nil && prev.hash == hash {
		prev.duplicate = nil
		prev.stamp, prev.readAt = f.stamp, readAt
		return prev
	}
	r := s.load(path, data)
	r.hash = hash
	r.stamp, r.readAt = f.stamp, readAt
	if prev != nil {
		r.reported = prev.reported
		if r.name == "" {
			// Unparseable now: the errors belong to the table it defined.
			r.name = prev.name
		}
	}
	return r
}

// load parses, validates, compiles and encodes one document.
func (s *scanner) load(path string, data []byte) *fileResult {
	r := &fileResult{path: path}
	rt, warnings, err := routes.ParseWarn(data)
	r.warnings = warnings
	if err == nil {
		_, err = routes.Compile(rt, policy.Options{})
	}
	if err != nil {
		r.name = peekName(data)
		r.problems = splitErrors(err)
		return r
	}
	r.name = rt.Metadata.Name
	msg, err := s.encode(rt)
	if err != nil {
		r.problems = []string{"encode: " + err.Error()}
		return r
	}
	version, err := Version(msg)
	if err != nil {
		r.problems = []string{err.Error()}
		return r
	}
	r.table = &Table{Name: r.name, File: path, Version: version, Resource: msg, Loaded: s.now()}
	return r
}

// markDuplicates groups the files by table name and marks every valid file
// whose table another valid file also defines. An invalid file does not
// conflict until it is fixed; its own problems are reported meanwhile.
func (s *scanner) markDuplicates() map[string][]*fileResult {
	byName := map[string][]*fileResult{}
	for _, r := range s.files {
		if r.name != "" {
			byName[r.name] = append(byName[r.name], r)
		}
	}
	for _, group := range byName {
		slices.SortFunc(group, func(a, b *fileResult) int { return strings.Compare(a.path, b.path) })
		valid := validOf(group)
		if len(valid) < 2 {
			continue
		}
		for _, r := range valid {
			for _, other := range valid {
				if other != r {
					r.duplicate = append(r.duplicate, other.path)
				}
			}
		}
	}
	return byName
}

func validOf(group []*fileResult) []*fileResult {
	var out []*fileResult
	for _, r := range group {
		if r.table != nil {
			out = append(out, r)
		}
	}
	return out
}

// listNames shows up to three paths and counts the rest.
func listNames(paths []string) string {
	if len(paths) <= 3 {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:3], ", "), len(paths)-3)
}

// snapshot decides what to serve: a name's single valid file, else the last
// good table of that name. Names no file defines any more are dropped.
func (s *scanner) snapshot(byName map[string][]*fileResult) Snapshot {
	snap := Snapshot{Tables: map[string]*Table{}}
	for name := range s.lastGood {
		if _, ok := byName[name]; !ok {
			delete(s.lastGood, name)
		}
	}
	for name, group := range byName {
		if valid := validOf(group); len(valid) == 1 {
			t := valid[0].table
			if old := s.lastGood[name]; old != nil && old.Version == t.Version && old.File == t.File {
				t = old // keep the first load time of this version
				valid[0].table = old
			}
			s.lastGood[name] = t
		}
		served := s.lastGood[name]
		if served != nil {
			snap.Tables[name] = served
		}
		for _, r := range group {
			snap.Status = append(snap.Status, statusOf(name, r, served))
		}
	}
	for _, r := range s.files {
		if r.name == "" {
			snap.Status = append(snap.Status, TableStatus{File: r.path, LastError: r.errorText()})
		}
	}
	slices.SortFunc(snap.Status, func(a, b TableStatus) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.File, b.File)
	})
	return snap
}

func statusOf(name string, r *fileResult, served *Table) TableStatus {
	st := TableStatus{Name: name, File: r.path, LastError: r.errorText()}
	if served != nil {
		st.Version, st.Updated = served.Version, served.Loaded
	}
	return st
}

// problems lists every current problem, one per line, sorted by file.
func (s *scanner) problems() []Problem {
	var out []Problem
	for _, r := range s.files {
		for _, p := range r.problems {
			out = append(out, Problem{File: r.path, Msg: p})
		}
		if len(r.duplicate) > 0 {
			out = append(out, Problem{File: r.path, Msg: fmt.Sprintf("metadata.name: table %q is also defined in %s",
				r.name, listNames(r.duplicate))})
		}
	}
	slices.SortStableFunc(out, func(a, b Problem) int { return strings.Compare(a.File, b.File) })
	return out
}

// warnings lists every current warning, sorted by file.
func (s *scanner) warnings() []Problem {
	var out []Problem
	for _, r := range s.files {
		for _, w := range r.warnings {
			out = append(out, Problem{File: r.path, Msg: fmt.Sprintf("line %d: %v", w.Line, w)})
		}
	}
	slices.SortStableFunc(out, func(a, b Problem) int { return strings.Compare(a.File, b.File) })
	return out
}

// unwarned returns the files whose warnings were not logged yet, sorted by
// path, and marks them logged: each content's warnings are logged once.
func (s *scanner) unwarned() []*fileResult {
	var out []*fileResult
	for _, r := range s.files {
		if len(r.warnings) > 0 && !r.warned {
			r.warned = true
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *fileResult) int { return strings.Compare(a.path, b.path) })
	return out
}

// listedFile is a file to scan and its stamp when listed.
type listedFile struct {
	path  string
	stamp fileStamp
}

// listFiles returns the *.yaml and *.yml files of dir, following symlinks,
// skipping dotfiles (Kubernetes keeps its "..data" machinery there) and
// anything that is not a regular file.
func listFiles(dir string) ([]listedFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("source: read directory: %w", err)
	}
	var out []listedFile
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p) // follows the symlink; a dangling one is skipped
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, listedFile{path: p, stamp: stampOf(fi)})
	}
	return out, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Start with room for the whole file, as os.ReadFile does, instead of
	// growing from 512 bytes: a scan of every file reads them all.
	size := 512
	if fi, err := f.Stat(); err == nil && fi.Size() < maxFileBytes {
		size = int(fi.Size()) + 1 // one more byte, to see the end
	}
	data := make([]byte, 0, size)
	r := io.LimitReader(f, maxFileBytes+1)
	for {
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("file is larger than %d bytes", maxFileBytes)
	}
	return data, nil
}

// peekName reads metadata.name without validating anything else, so that
// the problems of an invalid file can be attributed to its table.
func peekName(data []byte) string {
	var doc struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	}
	if yaml.Unmarshal(data, &doc) != nil {
		return ""
	}
	return doc.Metadata.Name
}

// splitErrors flattens joined errors into one line per problem.
func splitErrors(err error) []string {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range multi.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	var out []string
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}
