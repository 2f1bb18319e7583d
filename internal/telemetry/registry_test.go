package telemetry

import "testing"

func TestNewRegistryHasRuntimeProcessAndBuildInfo(t *testing.T) {
	families, err := NewRegistry().Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	found := map[string]bool{}
	for _, f := range families {
		found[f.GetName()] = true
		if f.GetName() == "meshlite_build_info" {
			m := f.GetMetric()[0]
			if m.GetGauge().GetValue() != 1 {
				t.Errorf("meshlite_build_info = %v, want 1", m.GetGauge().GetValue())
			}
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["version"] != Version {
				t.Errorf("build info version label = %q, want %q", labels["version"], Version)
			}
		}
	}
	for _, name := range []string{"go_goroutines", "process_open_fds", "meshlite_build_info"} {
		if !found[name] {
			t.Errorf("metric %s missing", name)
		}
	}
}
