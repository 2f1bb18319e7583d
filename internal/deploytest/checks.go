package deploytest

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// The checks every meshlite pod must pass, as problem lists: the manifest
// tests apply them to the hand-written pods, and injection's tests to the
// pods it produces.

// IsCapture reports whether c is the capture init container.
func IsCapture(c Container) bool {
	return Binary(c.Image) == Ambassador && IsCaptureInit(c.Args)
}

// SecurityProblems: every container meets the restricted Pod Security
// Standard and declares what it needs; the capture init container is the
// one exception, root with exactly NET_ADMIN (captureSecurityProblems).
func SecurityProblems(pod PodSecurityContext, c Container) []string {
	var out []string
	sc := c.SecurityContext
	if sc == nil {
		return []string{"no securityContext"}
	}
	if IsCapture(c) {
		out = captureSecurityProblems(pod, c)
	} else {
		out = nonRootProblems(pod, c)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		out = append(out, "readOnlyRootFilesystem must be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		out = append(out, "allowPrivilegeEscalation must be false")
	}
	if isTrue(sc.Privileged) {
		out = append(out, "privileged must not be set")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = pod.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != "RuntimeDefault" {
		out = append(out, "seccompProfile.type must be RuntimeDefault (container or pod)")
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		out = append(out, "resources.requests needs cpu and memory")
	}
	if c.Resources.Limits["memory"] == "" {
		out = append(out, "resources.limits needs memory")
	}
	return out
}

func isTrue(b *bool) bool { return b != nil && *b }

// nonRootProblems: what every container but the capture must meet.
func nonRootProblems(pod PodSecurityContext, c Container) []string {
	var out []string
	sc := c.SecurityContext
	if !isTrue(sc.RunAsNonRoot) && !isTrue(pod.RunAsNonRoot) {
		out = append(out, "runAsNonRoot must be true (container or pod)")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		out = append(out, "capabilities.drop must be [ALL]")
	} else if len(sc.Capabilities.Add) > 0 {
		out = append(out, "capabilities.add must be empty (a non-root process never gets them; see the sysctl note)")
	}
	return out
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

// CaptureProblems checks how the capture, the ambassador and the app of a
// pod fit together; what each container must meet alone is in
// securityProblems and TestAmbassadorWiring.
func CaptureProblems(ps PodSpec) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	all := ps.AllContainers()
	captures := 0
	for i, c := range all {
		if !IsCapture(c) {
			continue
		}
		captures++
		if i != 0 {
			add("%s runs ambassador init but is not the first init container: whatever starts before it is not captured", c.Name)
		}
	}
	if captures != 1 || !IsCapture(all[0]) {
		return append(out, fmt.Sprintf("%d capture init containers, want exactly one, first", captures))
	}
	capture := ps.InitContainers[0]
	if capture.RestartPolicy != "" {
		add("capture %s has restartPolicy %q: it must run once, to completion, before the ambassador starts (no restartPolicy)", capture.Name, capture.RestartPolicy)
	}
	if len(ps.InitContainers) < 2 || Binary(ps.InitContainers[1].Image) != Ambassador || IsCapture(ps.InitContainers[1]) ||
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
			if IsProxyEnv(e.Name) {
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

// IsProxyEnv: the variables that point an app at a proxy, including the
// book's Proxy__* drop-in settings.
func IsProxyEnv(name string) bool {
	n := strings.ToLower(name)
	return n == "http_proxy" || n == "https_proxy" || n == "no_proxy" || n == "all_proxy" || strings.HasPrefix(n, "proxy__")
}

// PodProblems is every check a transparent pod goes through.
func PodProblems(ps PodSpec) []string {
	out := CaptureProblems(ps)
	for _, c := range ps.AllContainers() {
		for _, p := range SecurityProblems(ps.SecurityContext, c) {
			out = append(out, c.Name+": "+p)
		}
	}
	return out
}

// ProbeProblems: probe (named name, e.g. "readinessProbe") is an HTTP GET of
// path on the admin port, given as a number or as one of ports' names.
func ProbeProblems(name string, probe *Probe, path string, ports []ContainerPort, admin int) []string {
	if probe == nil || probe.HTTPGet == nil {
		return []string{"no HTTP " + name}
	}
	var out []string
	if probe.HTTPGet.Path != path {
		out = append(out, fmt.Sprintf("%s path %q, want %q", name, probe.HTTPGet.Path, path))
	}
	n, err := probe.HTTPGet.Port.Resolve(ports)
	if err != nil || n != admin {
		out = append(out, fmt.Sprintf("%s port %q is %d (err %v), want the --admin port %d", name, probe.HTTPGet.Port, n, err, admin))
	}
	return out
}

// ScrapeProblems: a pod's annotations let Prometheus scrape /metrics on the
// admin port.
func ScrapeProblems(annotations map[string]string, admin int) []string {
	a := annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(admin) || a["prometheus.io/path"] != "/metrics" {
		return []string{fmt.Sprintf("scrape annotations %v, want scrape=true, port=%d, path=/metrics", a, admin)}
	}
	return nil
}

// PodNameProblems: the ambassador's POD_NAME comes from the downward API;
// it is the xDS node id.
func PodNameProblems(c Container) []string {
	for _, e := range c.Env {
		if e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			return nil
		}
	}
	return []string{"POD_NAME should come from the downward API (fieldRef metadata.name): it is the xDS node id"}
}
