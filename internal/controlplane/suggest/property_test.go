package suggest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Pools the random audit logs draw from: subdomains of registrable domains
// (some under multi-label public suffixes), public suffixes themselves,
// single-label cluster names, literal addresses of every class, odd paths.
var (
	propLabels   = []string{"a", "b", "c", "api", "www", "cdn.eu"}
	propDomains  = []string{"example.com", "shop.co.uk", "co.uk", "github.io", "user.github.io", "example.net", "com"}
	propSingle   = []string{"timecheck", "numbers-api", "localhost"}
	propLiterals = []string{"203.0.113.7", "198.51.100.20", "10.1.2.3", "[2001:db8::1]", "127.0.0.1", "169.254.169.254", "[::ffff:169.254.169.254]", "0.0.0.0", "100.100.100.200"}
	propMethods  = []string{"GET", "GET", "POST", "DELETE", "PROPFIND", "CONNECT", "TLS", "TCP"}
	propSegments = []string{"v1", "v2", "users", "a%3Fb", "x y", "..", "", "%2F"}
	propPorts    = []int{80, 443, 8080, 5432}
)

// randomLog writes n random audit lines for two workloads.
func randomLog(r *rand.Rand, n int) string {
	var b strings.Builder
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for range n {
		var host string
		switch r.IntN(4) {
		case 0, 1:
			host = propLabels[r.IntN(len(propLabels))] + "." + propDomains[r.IntN(len(propDomains))]
		case 2:
			host = propSingle[r.IntN(len(propSingle))]
		default:
			host = propLiterals[r.IntN(len(propLiterals))]
		}
		port := propPorts[r.IntN(len(propPorts))]
		method := propMethods[r.IntN(len(propMethods))]
		var url string
		switch method {
		case "CONNECT", "TLS", "TCP":
			url = fmt.Sprintf("%s:%d", host, port)
		default:
			path := ""
			for range r.IntN(4) {
				path += "/" + propSegments[r.IntN(len(propSegments))]
			}
			url = fmt.Sprintf("http://%s:%d%s", host, port, path)
		}
		rc := rec{
			ts:       start.Add(time.Duration(r.IntN(86400)) * time.Second).Format(time.RFC3339),
			method:   method,
			url:      url,
			decision: []string{decisionAllow, decisionWouldDeny, decisionWouldDeny, decisionDeny}[r.IntN(4)],
			workload: []string{"web", "api"}[r.IntN(2)],
		}
		if r.IntN(8) == 0 {
			rc.upstream = fmt.Sprintf("10.0.0.%d:%d", r.IntN(250)+1, port)
		}
		if r.IntN(20) == 0 {
			rc.route = "rng"
		}
		b.WriteString(rc.line())
	}
	return b.String()
}

// TestSuggestAllowsWhatWasSeen checks the generaliser's promise on random
// logs and options: the suggested table allows every line it learnt from,
// and never has a wildcard over a public suffix.
func TestSuggestAllowsWhatWasSeen(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 2026))
	for i := range 60 {
		input := randomLog(r, 1+r.IntN(80))
		opts := Options{Paths: r.IntN(2) == 0, PathDepth: 1 + r.IntN(3), WildcardMin: 1 + r.IntN(4)}
		t.Run(fmt.Sprintf("log%d", i), func(t *testing.T) {
			tables, _ := suggestFrom(t, input, opts)
			checkAllowsSeen(t, input, opts, tables)
			if t.Failed() {
				t.Logf("options %+v, input:\n%s", opts, input)
			}
		})
	}
}

// TestMergeAllowsWhatWasSeen checks the same promise when merging into an
// existing table.
func TestMergeAllowsWhatWasSeen(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 2026))
	base := writeBase(t, baseTable)
	for i := range 20 {
		input := randomLog(r, 1+r.IntN(60))
		opts := Options{Paths: r.IntN(2) == 0, PathDepth: 1 + r.IntN(3), WildcardMin: 1 + r.IntN(4), Merge: base}
		t.Run(fmt.Sprintf("log%d", i), func(t *testing.T) {
			tables, _ := suggestFrom(t, input, opts)
			checkAllowsSeen(t, input, opts, tables)
		})
	}
}

// FuzzSuggest feeds arbitrary bytes as an audit log (the options come from
// its first byte): suggest never fails on them, every table it writes
// validates, and each allows every line it learnt from.
func FuzzSuggest(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 8 {
		f.Add(append([]byte{byte(i * 37)}, randomLog(r, 4)...))
	}
	f.Add([]byte("\x05" + lines(rec{url: "http://a.example/x/y"}, rec{method: "CONNECT", url: "b.example:443"})))
	f.Add([]byte("\x00{}\n\x1f\x8b\nnot json\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		o, log := data[0], string(data[1:])
		opts := Options{Paths: o&1 != 0, PathDepth: 1 + int(o>>1&3), WildcardMin: 1 + int(o>>3&3), Workload: "fuzz", MaxLineBytes: 4096}
		var stdout, stderr bytes.Buffer
		if err := Run(opts, nil, strings.NewReader(log), &stdout, &stderr); err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatal(err)
			}
			return // no lines, or a gzip stream cut short: said, not crashed
		}
		tables, _ := suggestFrom(t, log, opts)
		checkAllowsSeen(t, log, opts, tables)
	})
}
