package telemetry

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/meshlite/meshlite/internal/testnet"
)

var otelVars = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
}

func TestTracingEnabledFromEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr string
	}{
		{"nothing set is off", nil, false, ""},
		{"generic endpoint turns on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, true, ""},
		{"traces endpoint turns on", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"}, true, ""},
		{"otlp exporter turns on", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
		{"none wins over an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, false, ""},
		{"sdk disabled wins", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false, ""},
		{"sdk disabled false is ignored", map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
		{"unknown exporter is an error", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false,
			`telemetry: OTEL_TRACES_EXPORTER="zipkin": exporter "zipkin" not supported (use otlp or none)`},
		{"grpc protocol accepted", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ""},
		{"http protocol is an error", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true,
			`telemetry: OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf" not supported (use grpc)`},
		{"traces protocol beats generic", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tracingEnabled(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("tracingEnabled = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func clearOtelEnv(t *testing.T) {
	for _, k := range otelVars {
		t.Setenv(k, "")
	}
}

func TestNewTracerProviderOffByDefault(t *testing.T) {
	clearOtelEnv(t)
	tp, shutdown, err := NewTracerProvider(t.Context(), "test")
	if err != nil {
		t.Fatalf("NewTracerProvider: %v", err)
	}
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Errorf("provider is %T, want noop.TracerProvider", tp)
	}
	if err := shutdown(t.Context()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestNewTracerProviderOnWithEndpoint(t *testing.T) {
	clearOtelEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+testnet.DeadAddr(t))
	tp, shutdown, err := NewTracerProvider(t.Context(), "test")
	if err != nil {
		t.Fatalf("NewTracerProvider: %v", err)
	}
	if _, ok := tp.(*sdktrace.TracerProvider); !ok {
		t.Errorf("provider is %T, want *sdktrace.TracerProvider", tp)
	}
	_, span := tp.Tracer("test").Start(t.Context(), "op")
	if !span.SpanContext().IsValid() {
		t.Error("span from the SDK provider has no valid span context")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_ = shutdown(ctx) // the export may fail: nothing listens there
}

func TestNewTracerProviderRejectsBadEnvironment(t *testing.T) {
	clearOtelEnv(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "jaeger")
	tp, _, err := NewTracerProvider(t.Context(), "test")
	if err == nil || !strings.Contains(err.Error(), `exporter "jaeger" not supported`) {
		t.Fatalf("error = %v, want the unsupported exporter named", err)
	}
	if tp != nil {
		t.Errorf("provider = %T, want nil with an error", tp)
	}
}

func TestPropagatorWritesW3CTraceparent(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	h := http.Header{}
	Propagator().Inject(trace.ContextWithSpanContext(t.Context(), sc), propagation.HeaderCarrier(h))
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if got := h.Get("traceparent"); got != want {
		t.Fatalf("traceparent = %q, want %q", got, want)
	}
	back := trace.SpanContextFromContext(Propagator().Extract(t.Context(), propagation.HeaderCarrier(h)))
	if back.TraceID() != sc.TraceID() || back.SpanID() != sc.SpanID() || !back.IsRemote() {
		t.Errorf("extracted %v, want the injected span context marked remote", back)
	}
}
