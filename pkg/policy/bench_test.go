package policy

import (
	"context"
	"testing"
)

func benchDecide(b *testing.B, req Request, want Result) {
	p := mustCompile(b, Enforce, testRules)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := p.Decide(ctx, req)
		if err != nil || d.Result != want {
			b.Fatalf("Decide = %+v, %v; want %s", d, err, want)
		}
	}
}

func BenchmarkDecideExactHost(b *testing.B) {
	benchDecide(b, get("api.example.org", 443, "/v1/items"), Allow)
}

func BenchmarkDecideWildcard(b *testing.B) {
	benchDecide(b, get("storage.googleapis.com", 443, "/bucket/object"), Allow)
}

func BenchmarkDecideLiteralIP(b *testing.B) {
	benchDecide(b, get("10.1.2.3", 443, "/"), Allow)
}

func BenchmarkDecideDenied(b *testing.B) {
	benchDecide(b, get("evil.example", 443, "/"), Deny)
}

func BenchmarkDecideMetadataDenied(b *testing.B) {
	benchDecide(b, get("meta.example", 80, "/"), Deny)
}

func BenchmarkNormalizeHostIDN(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NormalizeHost("Bücher.Example."); err != nil {
			b.Fatal(err)
		}
	}
}
