package deploytest

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The transparent variant: `ambassador init` installs the capture, the
// ambassador's transparent door receives what it redirects, and the app
// has no proxy settings at all.

// isCapture reports whether c is the capture init container.
func isCapture(c Container) bool {
	return Binary(c.Image) == Ambassador && IsCaptureInit(c.Args)
}

func TestTransparentPods(t *testing.T) {
	tree := loadTree(t)
	n := 0
	for _, p := range pods(t, tree) {
		if !slices.ContainsFunc(p.spec().AllContainers(), isCapture) {
			continue
		}
		n++
		for _, problem := range captureProblems(p.spec()) {
			t.Errorf("%s: %s", p.obj, problem)
		}
	}
	if n == 0 {
		t.Fatalf("no Deployment under %s runs the transparent capture (ambassador init)", manifestsDir)
	}
}

// captureSecurityProblems: the capture container is root with every
// capability dropped but NET_ADMIN. Root because Kubernetes puts added
// capabilities in the effective set of UID 0 only; so runAsNonRoot must be
// false where the pod sets it, or the kubelet refuses to start it.
func captureSecurityProblems(pod PodSecurityContext, c Container) []string {
	var out []string
	sc := c.SecurityContext
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || !slices.Equal(sc.Capabilities.Add, []string{"NET_ADMIN"}) {
		out = append(out, "capabilities must be exactly drop [ALL], add [NET_ADMIN] (nftables over netlink needs nothing else)")
	}
	if uid, _, ok := RunAs(pod, c); !ok || uid != 0 {
		out = append(out, "runAsUser must be 0: Kubernetes gives the added NET_ADMIN to root only")
	}
	nonRoot := pod.RunAsNonRoot
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if isTrue(nonRoot) {
		out = append(out, "runAsNonRoot must be false on this container: the kubelet refuses to start a root container otherwise")
	}
	return out
}

// captureProblems checks how the capture, the ambassador and the app of a
// pod fit together; what each container must meet alone is in
// securityProblems and TestAmbassadorWiring.
func captureProblems(ps PodSpec) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	all := ps.AllContainers()
	captures := 0
	for i, c := range all {
		if !isCapture(c) {
			continue
		}
		captures++
		if i != 0 {
			add("%s runs ambassador init but is not the first init container: whatever starts before it is not captured", c.Name)
		}
	}
	if captures != 1 || !isCapture(all[0]) {
		return append(out, fmt.Sprintf("%d capture init containers, want exactly one, first", captures))
	}
	capture := ps.InitContainers[0]
	if capture.RestartPolicy != "" {
		add("capture %s has restartPolicy %q: it must run once, to completion, before the ambassador starts (no restartPolicy)", capture.Name, capture.RestartPolicy)
	}
	if len(ps.InitContainers) < 2 || Binary(ps.InitContainers[1].Image) != Ambassador || isCapture(ps.InitContainers[1]) ||
		ps.InitContainers[1].RestartPolicy != "Always" {
		return append(out, "the second init container must be the ambassador as a native sidecar (restartPolicy: Always), so the app starts after its startup probe")
	}
	sidecar := ps.InitContainers[1]
	cf, err := ParseArgs(Ambassador, capture.Args)
	if err != nil {
		return append(out, err.Error())
	}
	sf, err := ParseArgs(Ambassador, sidecar.Args)
	if err != nil {
		return append(out, err.Error())
	}
	for _, name := range []string{"dry-run", "cleanup"} {
		if cf.Lookup(name).Changed {
			add("capture %s passes --%s: it would install no capture and the app would go out unchecked", capture.Name, name)
		}
	}
	puid, _ := strconv.ParseInt(cf.Lookup("proxy-uid").Value.String(), 10, 64)
	pgid, _ := strconv.ParseInt(cf.Lookup("proxy-gid").Value.String(), 10, 64)
	if puid == 0 || pgid == 0 {
		add("capture --proxy-uid %d --proxy-gid %d: 0 would exempt root (ambassador init refuses it)", puid, pgid)
	}
	if uid, gid, ok := RunAs(ps.SecurityContext, sidecar); !ok {
		add("ambassador %s: set runAsUser and runAsGroup to the capture's --proxy-uid %d and --proxy-gid %d", sidecar.Name, puid, pgid)
	} else if uid != puid || gid != pgid {
		add("ambassador %s runs as %d:%d but the capture exempts --proxy-uid %d --proxy-gid %d: its own upstream connections would be captured (its self-check fails)",
			sidecar.Name, uid, gid, puid, pgid)
	}
	out = append(out, doorProblems(sf.Lookup("transparent").Value.String(), cf.Lookup("capture-port").Value.String())...)
	for _, c := range all {
		if c.Name == capture.Name || c.Name == sidecar.Name {
			continue
		}
		switch uid, gid, ok := RunAs(ps.SecurityContext, c); {
		case !ok:
			add("container %s runs as its image's user: set runAsUser and runAsGroup, so it cannot be %d:%d, which the capture exempts", c.Name, puid, pgid)
		case uid == puid || gid == pgid:
			add("container %s runs as %d:%d, the identity the capture exempts (--proxy-uid %d --proxy-gid %d): its connections would go around the ambassador",
				c.Name, uid, gid, puid, pgid)
		}
	}
	for _, c := range ps.Containers {
		for _, e := range c.Env {
			if isProxyEnv(e.Name) {
				add("app container %s sets %s: with the capture the app needs no proxy settings (it calls the real service)", c.Name, e.Name)
			}
		}
	}
	return out
}

// doorProblems: the ambassador's --transparent address is where the
// capture redirects to.
func doorProblems(transparent, capturePort string) []string {
	if transparent == "" {
		return []string{"the ambassador has no --transparent door: every captured connection would be refused"}
	}
	host, port, err := net.SplitHostPort(transparent)
	if err != nil {
		return []string{fmt.Sprintf("--transparent %q: %v", transparent, err)}
	}
	var out []string
	if host != "127.0.0.1" {
		out = append(out, fmt.Sprintf("--transparent %q: the host must be 127.0.0.1, where the kernel delivers redirected IPv4 connections (never the pod IP: an open proxy)", transparent))
	}
	if port != capturePort {
		out = append(out, fmt.Sprintf("--transparent port %s but the capture's --capture-port is %s: captured connections would reach no door", port, capturePort))
	}
	return out
}

// isProxyEnv: the variables that point an app at a proxy, including the
// book's Proxy__* drop-in settings.
func isProxyEnv(name string) bool {
	n := strings.ToLower(name)
	return n == "http_proxy" || n == "https_proxy" || n == "no_proxy" || n == "all_proxy" || strings.HasPrefix(n, "proxy__")
}

// podProblems is every check a transparent pod goes through.
func podProblems(ps PodSpec) []string {
	out := captureProblems(ps)
	for _, c := range ps.AllContainers() {
		for _, p := range securityProblems(ps.SecurityContext, c) {
			out = append(out, c.Name+": "+p)
		}
	}
	return out
}

// The checks above catch each mistake they exist for, starting from the
// shipped transparent pod.
func TestTransparentChecksCatchMistakes(t *testing.T) {
	tree := loadTree(t)
	var obj Object
	for _, p := range pods(t, tree) {
		if slices.ContainsFunc(p.spec().InitContainers, isCapture) {
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
			got := strings.Join(podProblems(*ps), "\n")
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
