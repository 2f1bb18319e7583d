package telemetry

import (
	"os"
	"runtime"
	"strings"
)

// HeapProfileOffByDefault turns heap-profile sampling off unless GODEBUG
// sets memprofilerate. The sampler keeps a hash table of allocation stacks
// that costs about 0.4 MiB of resident memory, 2 % of the ambassador's
// budget. With GODEBUG=memprofilerate=524288 (Go's default rate)
// /debug/pprof/heap and /debug/pprof/allocs have samples again. Call it
// first in main.
func HeapProfileOffByDefault() {
	if !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") {
		runtime.MemProfileRate = 0
	}
}
