package deploytest

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
	"github.com/meshlite/meshlite/internal/config"
)

// The meshlite binaries, as named by their image repositories.
const (
	Ambassador   = "ambassador"
	ControlPlane = "controlplane"
)

// ImageRepository is where the manifests expect meshlite images.
const ImageRepository = "ghcr.io/meshlite/"

// Binary returns the meshlite binary an image runs (Ambassador or
// ControlPlane), or "" for any other image.
func Binary(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	switch image {
	case ImageRepository + Ambassador:
		return Ambassador
	case ImageRepository + ControlPlane:
		return ControlPlane
	}
	return ""
}

// CaptureInit is the ambassador's subcommand that installs the transparent
// capture and exits: a container whose args start with it is the capture
// init container, not the proxy.
const CaptureInit = "init"

// IsCaptureInit reports whether an ambassador container's args run
// `ambassador init`.
func IsCaptureInit(args []string) bool {
	return len(args) > 0 && args[0] == CaptureInit
}

// ParseArgs parses a container's args exactly as its binary's command line
// would: an unknown flag, a missing value or a value of the wrong type is an
// error. The control plane's args start with its "serve" subcommand; the
// ambassador's capture init container's with "init".
func ParseArgs(binary string, args []string) (*pflag.FlagSet, error) {
	fs := pflag.NewFlagSet(binary, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var initFlags *capture.Flags
	switch {
	case binary == Ambassador && IsCaptureInit(args):
		args = args[1:]
		initFlags = new(capture.Flags)
		initFlags.Register(fs)
	case binary == Ambassador:
		config.AmbassadorFlags(fs)
	case binary == ControlPlane:
		if len(args) == 0 || args[0] != "serve" {
			return nil, fmt.Errorf("deploytest: controlplane args must start with the serve subcommand, got %q", args)
		}
		args = args[1:]
		config.ControlPlaneFlags(fs)
	default:
		return nil, fmt.Errorf("deploytest: unknown binary %q", binary)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("deploytest: %s args %q: %w", binary, args, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("deploytest: %s args: unexpected positional arguments %q", binary, fs.Args())
	}
	if initFlags != nil {
		if err := initFlags.Check(); err != nil {
			return nil, fmt.Errorf("deploytest: %s init args %q: invalid argument: %w", binary, args, err)
		}
	}
	return fs, nil
}

// CheckEnv reports MESHLITE_* variables that name no flag of the binary
// (MESHLITE_LOG_LEVEL is --log-level); viper would silently ignore them.
func CheckEnv(binary string, env []EnvVar) error {
	fs, err := ParseArgs(binary, serveArgs(binary))
	if err != nil {
		return err
	}
	for _, e := range env {
		rest, ok := strings.CutPrefix(e.Name, "MESHLITE_")
		if !ok {
			continue
		}
		flag := strings.ReplaceAll(strings.ToLower(rest), "_", "-")
		if fs.Lookup(flag) == nil {
			return fmt.Errorf("deploytest: %s env %s: no flag --%s", binary, e.Name, flag)
		}
	}
	return nil
}

func serveArgs(binary string) []string {
	if binary == ControlPlane {
		return []string{"serve"}
	}
	return nil
}
