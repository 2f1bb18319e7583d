package telemetry

import (
	"runtime"
	"testing"
)

func TestHeapProfileOffByDefault(t *testing.T) {
	saved := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = saved })

	for _, tc := range []struct {
		name, godebug string
		want          int
	}{
		{name: "no GODEBUG turns sampling off", godebug: "", want: 0},
		{name: "other GODEBUG settings turn it off", godebug: "http2debug=1", want: 0},
		{name: "memprofilerate in GODEBUG is kept", godebug: "http2debug=1,memprofilerate=4096", want: 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GODEBUG", tc.godebug)
			runtime.MemProfileRate = 4096 // what the runtime set from GODEBUG
			HeapProfileOffByDefault()
			if runtime.MemProfileRate != tc.want {
				t.Errorf("MemProfileRate = %d, want %d", runtime.MemProfileRate, tc.want)
			}
		})
	}
}
