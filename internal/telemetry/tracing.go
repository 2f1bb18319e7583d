package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Propagator returns the W3C Trace Context propagator (traceparent,
// tracestate) used to continue traces across the proxy.
func Propagator() propagation.TextMapPropagator {
	return propagation.TraceContext{}
}

// NewTracerProvider returns the tracer provider for serviceName and its
// shutdown function, which flushes pending spans.
//
// Tracing is off (a no-op provider) unless the standard environment asks for
// export: OTEL_TRACES_EXPORTER=otlp, or OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set. OTEL_TRACES_EXPORTER=none and
// OTEL_SDK_DISABLED=true force it off. Spans are exported over OTLP/gRPC; the
// exporter, sampler, batch processor and resource read the other OTEL_*
// variables themselves (OTEL_SERVICE_NAME overrides serviceName). The
// provider is returned, never installed globally.
func NewTracerProvider(ctx context.Context, serviceName string) (trace.TracerProvider, func(context.Context) error, error) {
	on, err := tracingEnabled(os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	if !on {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", serviceName),
			attribute.String("service.version", Version),
		),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, nil, fmt.Errorf("telemetry: trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// tracingEnabled decides from the environment whether to export spans.
func tracingEnabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	if exporters := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exporters != "" {
		for _, name := range strings.Split(exporters, ",") {
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "none":
				return false, nil
			case "otlp":
			default:
				return false, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%q: exporter %q not supported (use otlp or none)", exporters, name)
			}
		}
		return true, checkProtocol(getenv)
	}
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false, nil
	}
	return true, checkProtocol(getenv)
}

// checkProtocol rejects an OTLP protocol other than gRPC, rather than
// speaking gRPC to an endpoint that expects something else.
func checkProtocol(getenv func(string) string) error {
	for _, key := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(key)); p != "" {
			if p != "grpc" {
				return fmt.Errorf("telemetry: %s=%q not supported (use grpc)", key, p)
			}
			return nil // the traces-specific setting wins
		}
	}
	return nil
}
