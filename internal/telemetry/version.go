package telemetry

import (
	"runtime"
	"runtime/debug"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/meshlite/meshlite/internal/telemetry.Version=v1.2.3".
var Version = "dev"

// Keys of the map BuildInfo returns.
const (
	BuildVersion     = "version"
	BuildGoVersion   = "go_version"
	BuildVCSRevision = "vcs_revision"
	BuildVCSTime     = "vcs_time"
	BuildVCSModified = "vcs_modified"
)

// BuildInfo describes the running binary: version and go_version always, and
// vcs_revision, vcs_time and vcs_modified when the binary was built from a
// version-controlled tree with VCS stamping on.
func BuildInfo() map[string]string {
	info := map[string]string{
		BuildVersion:   Version,
		BuildGoVersion: runtime.Version(),
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info[BuildVCSRevision] = s.Value
		case "vcs.time":
			info[BuildVCSTime] = s.Value
		case "vcs.modified":
			info[BuildVCSModified] = s.Value
		}
	}
	return info
}
