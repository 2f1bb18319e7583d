package telemetry

import (
	"runtime"
	"testing"
)

func TestBuildInfoReportsVersionAndGo(t *testing.T) {
	old := Version
	Version = "v9.9.9-test"
	t.Cleanup(func() { Version = old })
	info := BuildInfo()
	if info[BuildVersion] != "v9.9.9-test" {
		t.Errorf("version = %q, want the linker-set Version", info[BuildVersion])
	}
	if info[BuildGoVersion] != runtime.Version() {
		t.Errorf("go_version = %q, want %q", info[BuildGoVersion], runtime.Version())
	}
	for k := range info {
		switch k {
		case BuildVersion, BuildGoVersion, BuildVCSRevision, BuildVCSTime, BuildVCSModified:
		default:
			t.Errorf("unexpected key %q", k)
		}
	}
}
