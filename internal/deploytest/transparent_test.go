package deploytest

import (
	"slices"
	"strings"
	"testing"
)

// The transparent variant: `ambassador init` installs the capture, the
// ambassador's transparent door receives what it redirects, and the app
// has no proxy settings at all.

func TestTransparentPods(t *testing.T) {
	tree := loadTree(t)
	n := 0
	for _, p := range pods(t, tree) {
		if !slices.ContainsFunc(p.spec().AllContainers(), IsCapture) {
			continue
		}
		n++
		for _, problem := range CaptureProblems(p.spec()) {
			t.Errorf("%s: %s", p.obj, problem)
		}
	}
	if n == 0 {
		t.Fatalf("no Deployment under %s runs the transparent capture (ambassador init)", manifestsDir)
	}
}

// The checks above catch each mistake they exist for, starting from the
// shipped transparent pod.
func TestTransparentChecksCatchMistakes(t *testing.T) {
	tree := loadTree(t)
	var obj Object
	for _, p := range pods(t, tree) {
		if slices.ContainsFunc(p.spec().InitContainers, IsCapture) {
			obj = p.obj
		}
	}
	if obj.Node == nil {
		t.Fatal("no transparent pod to start from")
	}
	capture := func(ps *PodSpec) *Container { return &ps.InitContainers[0] }
	sidecar := func(ps *PodSpec) *Container { return &ps.InitContainers[1] }
	app := func(ps *PodSpec) *Container { return &ps.Containers[0] }
	id := func(n int64) *int64 { return &n }
	yes := func() *bool { b := true; return &b }
	tests := []struct {
		name   string
		mutate func(ps *PodSpec)
		want   string // "" = no problem at all
	}{
		{"as shipped", func(*PodSpec) {}, ""},
		{"capture after the ambassador", func(ps *PodSpec) {
			ps.InitContainers[0], ps.InitContainers[1] = ps.InitContainers[1], ps.InitContainers[0]
		}, "not the first init container"},
		{"capture restarts", func(ps *PodSpec) { capture(ps).RestartPolicy = "Always" }, "must run once"},
		{"ambassador not a native sidecar", func(ps *PodSpec) { sidecar(ps).RestartPolicy = "" }, "native sidecar"},
		{"capture dry run", func(ps *PodSpec) { capture(ps).Args = append(capture(ps).Args, "--dry-run") }, "passes --dry-run"},
		{"ambassador UID not the exempt one", func(ps *PodSpec) { sidecar(ps).SecurityContext.RunAsUser = id(1338) }, "runs as 1338:1337 but the capture exempts"},
		{"ambassador GID not the exempt one", func(ps *PodSpec) { sidecar(ps).SecurityContext.RunAsGroup = id(65532) }, "runs as 1337:65532 but the capture exempts"},
		{"ambassador identity left to the pod", func(ps *PodSpec) {
			sidecar(ps).SecurityContext.RunAsUser, sidecar(ps).SecurityContext.RunAsGroup = nil, nil
		}, "runs as 65532:65532 but the capture exempts"},
		{"proxy UID root", func(ps *PodSpec) {
			setFlag(capture(ps), "--proxy-uid", "0")
			sidecar(ps).SecurityContext.RunAsUser = id(0)
		}, "must not run as root"},
		{"capture port differs", func(ps *PodSpec) { setFlag(sidecar(ps), "--transparent", "127.0.0.1:15002") }, "--capture-port is 15001"},
		{"door on every address", func(ps *PodSpec) { setFlag(sidecar(ps), "--transparent", "0.0.0.0:15001") }, "must be 127.0.0.1"},
		{"no transparent door", func(ps *PodSpec) { setFlag(sidecar(ps), "--transparent", "") }, "no --transparent door"},
		{"app runs as the proxy UID", func(ps *PodSpec) { app(ps).SecurityContext.RunAsUser = id(1337) }, "go around the ambassador"},
		{"app with http_proxy", func(ps *PodSpec) {
			app(ps).Env = append(app(ps).Env, EnvVar{Name: "HTTP_PROXY", Value: "http://127.0.0.1:1080"})
		}, "sets HTTP_PROXY"},
		{"app with a drop-in variable", func(ps *PodSpec) {
			app(ps).Env = append(app(ps).Env, EnvVar{Name: "Proxy__Port", Value: "1080"})
		}, "sets Proxy__Port"},
		{"capture with NET_RAW too", func(ps *PodSpec) {
			c := capture(ps).SecurityContext.Capabilities
			c.Add = append(c.Add, "NET_RAW")
		}, "exactly drop [ALL], add [NET_ADMIN]"},
		{"capture privileged", func(ps *PodSpec) { capture(ps).SecurityContext.Privileged = yes() }, "privileged must not be set"},
		{"capture may escalate", func(ps *PodSpec) { capture(ps).SecurityContext.AllowPrivilegeEscalation = yes() }, "allowPrivilegeEscalation must be false"},
		{"capture not root", func(ps *PodSpec) { capture(ps).SecurityContext.RunAsUser = nil }, "runAsUser must be 0"},
		{"capture keeps the pod's runAsNonRoot", func(ps *PodSpec) { capture(ps).SecurityContext.RunAsNonRoot = nil }, "runAsNonRoot must be false"},
		{"ambassador with NET_ADMIN", func(ps *PodSpec) {
			sidecar(ps).SecurityContext.Capabilities.Add = []string{"NET_ADMIN"}
		}, "ambassador: capabilities.add must be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Deployment // decoded afresh: the mutations must not leak
			if err := obj.Decode(&d); err != nil {
				t.Fatal(err)
			}
			ps := &d.Spec.Template.Spec
			tt.mutate(ps)
			got := strings.Join(PodProblems(*ps), "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", got, tt.want)
			}
		})
	}
}

// setFlag sets --name's value in c's args ("" removes the flag).
func setFlag(c *Container, name, value string) {
	if i := slices.Index(c.Args, name); i >= 0 {
		c.Args = slices.Delete(c.Args, i, i+2)
	}
	if value != "" {
		c.Args = append(c.Args, name, value)
	}
}
