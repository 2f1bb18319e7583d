package config

import (
	"strings"
	"testing"
	"time"
)

func TestKubeSource(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Kube
		wantErr string
	}{
		{name: "directory by default", env: map[string]string{"POD_NAMESPACE": ""},
			want: Kube{Source: SourceDirectory, LeaseNamespace: DefaultLeaseNamespace, LeaseName: "meshlite-controlplane", StatusInterval: time.Second}},
		{name: "kubernetes, lease beside the pod", args: []string{"--source", "kubernetes", "--kubeconfig", "/k", "--xds-insecure"},
			env:  map[string]string{"POD_NAMESPACE": "mesh"},
			want: Kube{Source: SourceKubernetes, Kubeconfig: "/k", LeaseNamespace: "mesh", LeaseName: "meshlite-controlplane", StatusInterval: time.Second}},
		{name: "kubernetes needs no --routes", args: []string{"--source", "kubernetes", "--routes", "", "--lease-namespace", "ops", "--status-interval", "5s", "--xds-insecure"},
			want: Kube{Source: SourceKubernetes, LeaseNamespace: "ops", LeaseName: "meshlite-controlplane", StatusInterval: 5 * time.Second}},
		{name: "directory needs --routes", args: []string{"--routes", ""}, wantErr: "config: routes: required"},
		{name: "unknown source", args: []string{"--source", "etcd"}, wantErr: `config: source: "etcd" is not a source (use directory or kubernetes)`},
		{name: "bad lease namespace", args: []string{"--source", "kubernetes", "--lease-namespace", "Ops"}, wantErr: `config: lease-namespace: "Ops" is not a namespace name`},
		{name: "status interval", args: []string{"--source", "kubernetes", "--status-interval", "0s"}, wantErr: "config: status-interval: 0s: must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadCP(t, tc.args, tc.env, "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || cfg.Kube != tc.want {
				t.Fatalf("kube = %+v, err %v; want %+v", cfg.Kube, err, tc.want)
			}
		})
	}
}
