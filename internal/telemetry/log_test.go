package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNewLoggerLevels(t *testing.T) {
	tests := []struct {
		level       string
		wantEnabled slog.Level // lowest level that is written
	}{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"", slog.LevelInfo},
		{"WARN", slog.LevelWarn},
		{" error ", slog.LevelError},
	}
	for _, tt := range tests {
		t.Run("level "+tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := NewLogger(&buf, tt.level)
			if err != nil {
				t.Fatalf("NewLogger: %v", err)
			}
			for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
				log.Log(t.Context(), l, "msg", "at", l.String())
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			var first map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
				t.Fatalf("first line is not JSON: %v: %q", err, lines[0])
			}
			if first["level"] != tt.wantEnabled.String() {
				t.Errorf("first written level = %v, want %v", first["level"], tt.wantEnabled)
			}
			wantLines := int(slog.LevelError-tt.wantEnabled)/4 + 1
			if len(lines) != wantLines {
				t.Errorf("wrote %d lines, want %d", len(lines), wantLines)
			}
		})
	}
}

func TestNewLoggerRejectsUnknownLevel(t *testing.T) {
	_, err := NewLogger(&bytes.Buffer{}, "verbose")
	want := `telemetry: log level "verbose" not supported (use debug, info, warn or error)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}
