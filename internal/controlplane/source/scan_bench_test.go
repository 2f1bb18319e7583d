package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchDir writes n valid tables into a temporary directory.
func benchDir(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("t%04d.yaml", i))
		if err := os.WriteFile(p, []byte(tableYAML(fmt.Sprintf("t%04d", i), "http://up/0")), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkScanOneChanged rescans 1,000 files of which one changed in
// place (the stamps of the others are trusted: the clock is an hour ahead).
func BenchmarkScanOneChanged(b *testing.B) {
	dir := benchDir(b, 1000)
	s := laterScanner(dir)
	if _, _, err := s.scan(readAll); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, "t0500.yaml")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if err := os.WriteFile(p, []byte(tableYAML("t0500", fmt.Sprintf("http://up/%d", i+1))), 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		snap, _, err := s.scan(readChanged)
		if err != nil || len(snap.Tables) != 1000 {
			b.Fatalf("scan: %d tables, %v", len(snap.Tables), err)
		}
	}
}

// BenchmarkScanAllChanged rescans 1,000 files that all changed: the scan
// after an edit of every table (read, parse, compile and encode each one).
func BenchmarkScanAllChanged(b *testing.B) {
	dir := benchDir(b, 1000)
	s := newScanner(dir, EncodeProto)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := range 1000 {
			p := filepath.Join(dir, fmt.Sprintf("t%04d.yaml", j))
			if err := os.WriteFile(p, []byte(tableYAML(fmt.Sprintf("t%04d", j), fmt.Sprintf("http://up/%d", i+1))), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		snap, _, err := s.scan(readAll)
		if err != nil || len(snap.Tables) != 1000 {
			b.Fatalf("scan: %d tables, %v", len(snap.Tables), err)
		}
	}
}
