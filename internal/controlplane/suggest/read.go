package suggest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// progressEvery is how many lines pass between two progress lines.
const progressEvery = 1 << 20

// readAll reads every file ("-": stdin; none: stdin) in one streaming pass.
func readAll(opts Options, files []string, stdin io.Reader) (*audit, error) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	a := newAudit(opts)
	for _, name := range files {
		if err := a.readFile(name, stdin); err != nil {
			a.endProgress()
			return nil, err
		}
	}
	a.endProgress()
	a.markPrivate()
	return a, nil
}

// readFile reads one file, plain or gzip (told by its first bytes, not its
// name).
func (a *audit) readFile(name string, stdin io.Reader) error {
	label, r := name, stdin
	if name == "-" {
		label = "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	a.stats.sources++
	br := bufio.NewReaderSize(r, a.opts.MaxLineBytes)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", label, err)
	}
	if !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		return a.readLines(label, br)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return fmt.Errorf("%s: gzip: %w", label, err)
	}
	defer zr.Close()
	return a.readLines(label, bufio.NewReaderSize(zr, a.opts.MaxLineBytes))
}

// utf8BOM starts files some editors and tools save.
var utf8BOM = []byte("\uFEFF")

// readLines reads br line by line; a line longer than the reader's buffer
// is skipped and counted.
func (a *audit) readLines(label string, br *bufio.Reader) error {
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			n++
			a.stats.lines++
			a.stats.oversized.add(label, n, fmt.Sprintf("longer than %d bytes", a.opts.MaxLineBytes))
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
		} else if len(line) > 0 {
			if n++; n == 1 {
				line = bytes.TrimPrefix(line, utf8BOM)
			}
			if err := a.line(label, n, line); err != nil {
				return err
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("%s: after line %d: %w", label, n, err)
		}
	}
}

// line takes one audit line; malformed lines are counted, not fatal.
func (a *audit) line(label string, n int, raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	if a.stats.lines++; a.opts.Progress != nil && a.stats.lines%progressEvery == 0 {
		fmt.Fprintf(a.opts.Progress, "\rsuggest: %d lines read", a.stats.lines)
		a.progressShown = true
	}
	l, ts, err := parseLine(raw)
	if err != nil {
		a.stats.malformed.add(label, n, err.Error())
		return nil
	}
	if !a.opts.Since.IsZero() && ts.Before(a.opts.Since) || !a.opts.Until.IsZero() && !ts.Before(a.opts.Until) {
		a.stats.outside++
		return nil
	}
	w := l.Workload
	if w == "" {
		w = a.opts.Workload
	}
	if w == "" {
		return fmt.Errorf(`%s:%d: the audit line has no "workload" field (an ambassador older than this tool wrote it): name its workload with --workload NAME`, label, n)
	}
	if a.workloads[w] == nil {
		if err := checkWorkload(w); err != nil {
			a.stats.malformed.add(label, n, "workload: "+err.Error())
			return nil
		}
	}
	if msg := a.add(w, l, ts); msg != "" {
		a.stats.malformed.add(label, n, msg)
	}
	return nil
}

func (a *audit) endProgress() {
	if a.progressShown {
		fmt.Fprintf(a.opts.Progress, "\rsuggest: %d lines read\n", a.stats.lines)
		a.progressShown = false
	}
}
