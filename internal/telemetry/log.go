// Package telemetry is the plumbing both meshlite binaries share: the
// operational logger, the metrics registry, the tracer provider, build
// information and the admin HTTP server.
//
// Nothing here is global: every constructor returns a value for main to
// inject.
package telemetry

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// ParseLevel maps debug, info, warn or error (any case) to a slog level; the
// empty string means info.
func ParseLevel(level string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("telemetry: log level %q not supported (use debug, info, warn or error)", level)
}

// NewLogger returns a JSON logger for operational logs at the given level.
// Operational logs go to stderr; stdout carries the audit lines.
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}
