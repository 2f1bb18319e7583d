package deploytest

import (
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// The pieces point at each other: flags, mounts, Services, probes, tables.

func TestControlPlaneWiring(t *testing.T) {
	tree := loadTree(t)
	for _, m := range meshliteContainers(t, tree, ControlPlane) {
		d := m.pod.d
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
			t.Errorf("%s: replicas should be at least 2 (stateless; one can go while the other serves)", m.pod.obj)
		}
		admin := addrPort(t, m.flag(t, "admin"))
		checkProbes(t, m, admin)
		checkScrape(t, m.pod, admin)
		xdsPort := addrPort(t, m.flag(t, "xds"))
		svc := serviceExposing(t, tree, m.pod, xdsPort)
		if !slices.ContainsFunc(svc.Spec.Ports, func(p ServicePort) bool {
			n, err := p.TargetPort.Resolve(m.c.Ports)
			return err == nil && n == admin
		}) {
			t.Errorf("Service %s does not expose the admin port %d", svc.Metadata.Name, admin)
		}
		checkPDB(t, tree, m.pod)
	}
	routesConfigMap(t, tree) // the --routes directory is a mounted, generated ConfigMap
}

func TestAmbassadorWiring(t *testing.T) {
	tree := loadTree(t)
	cpTables := routesConfigMap(t, tree)
	for _, m := range meshliteContainers(t, tree, Ambassador) {
		workload := m.flag(t, "workload")
		if app := m.pod.d.Spec.Template.Metadata.Labels["app"]; app != workload {
			t.Errorf("%s: --workload %q but the pod's app label is %q", m.pod.obj, workload, app)
		}
		if m.c.RestartPolicy != "Always" || !slices.ContainsFunc(m.pod.spec().InitContainers, func(c Container) bool { return c.Name == m.c.Name }) {
			t.Errorf("%s: the ambassador should be a native sidecar (an init container with restartPolicy: Always), so it starts before and stops after the app", m.pod.obj)
		}
		checkXDSAddress(t, tree, m.flag(t, "xds"))
		cpTable := tableNamed(t, cpTables, workload)
		bootstrap := bootstrapTable(t, tree, m)
		if bootstrap.Metadata.Name != workload {
			t.Errorf("%s: bootstrap table is named %q, want the workload %q", m.pod.obj, bootstrap.Metadata.Name, workload)
		}
		admin := addrPort(t, m.flag(t, "admin"))
		checkProbes(t, m, admin)
		// the app starts only once this passes: a table is loaded, the doors
		// are open and, with --transparent, the capture self-check passed
		checkProbe(t, m, "startupProbe", m.c.StartupProbe, "/readyz", admin)
		checkScrape(t, m.pod, admin)
		checkPodName(t, m)
		checkLowPorts(t, m.pod, slices.Concat(doorPorts(t, cpTable), doorPorts(t, bootstrap)))
	}
}

// checkXDSAddress: HOST:PORT names the control plane's Service and its port.
func checkXDSAddress(t *testing.T, tree *Tree, addr string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--xds %q: %v", addr, err)
	}
	host = strings.TrimSuffix(strings.TrimSuffix(host, ".cluster.local"), ".svc")
	name, ns, _ := strings.Cut(host, ".")
	cp := meshliteContainers(t, tree, ControlPlane)[0]
	if ns != cp.pod.obj.Namespace {
		t.Errorf("--xds %q: namespace %q, but the control plane runs in %q", addr, ns, cp.pod.obj.Namespace)
	}
	svc := serviceExposing(t, tree, cp.pod, addrPort(t, cp.flag(t, "xds")))
	if svc.Metadata.Name != name {
		t.Errorf("--xds %q: Service %q, but the control plane's xDS port is exposed by %q", addr, name, svc.Metadata.Name)
	}
	n, _ := strconv.Atoi(port)
	if !slices.ContainsFunc(svc.Spec.Ports, func(p ServicePort) bool {
		return p.Port == n
	}) {
		t.Errorf("--xds %q: Service %s has no port %d", addr, svc.Metadata.Name, n)
	}
}

// serviceExposing finds the Service in the pod's namespace that selects it
// and forwards to containerPort.
func serviceExposing(t *testing.T, tree *Tree, p pod, containerPort int) Service {
	t.Helper()
	for _, o := range tree.Find("Service") {
		var svc Service
		if err := o.Decode(&svc); err != nil {
			t.Fatal(err)
		}
		if o.Namespace != p.obj.Namespace || !Selects(svc.Spec.Selector, p.d.Spec.Template.Metadata.Labels) {
			continue
		}
		for _, sp := range svc.Spec.Ports {
			for _, c := range p.spec().AllContainers() {
				if n, err := sp.TargetPort.Resolve(c.Ports); err == nil && n == containerPort {
					svc.Metadata.Name = o.Name
					return svc
				}
			}
		}
	}
	t.Fatalf("no Service in %s selects %s and forwards to port %d", p.obj.Namespace, p.obj, containerPort)
	return Service{}
}

func checkPDB(t *testing.T, tree *Tree, p pod) {
	t.Helper()
	for _, o := range tree.Find("PodDisruptionBudget") {
		var pdb PodDisruptionBudget
		if err := o.Decode(&pdb); err != nil {
			t.Fatal(err)
		}
		if o.Namespace == p.obj.Namespace && Selects(pdb.Spec.Selector.MatchLabels, p.d.Spec.Template.Metadata.Labels) {
			return
		}
	}
	t.Errorf("%s: no PodDisruptionBudget selects its pods", p.obj)
}

func checkProbes(t *testing.T, m meshliteContainer, admin int) {
	t.Helper()
	checkProbe(t, m, "readinessProbe", m.c.ReadinessProbe, "/readyz", admin)
	checkProbe(t, m, "livenessProbe", m.c.LivenessProbe, "/healthz", admin)
}

// checkProbe: probe is an HTTP GET of path on the --admin port.
func checkProbe(t *testing.T, m meshliteContainer, name string, probe *Probe, path string, admin int) {
	t.Helper()
	for _, p := range ProbeProblems(name, probe, path, m.c.Ports, admin) {
		t.Errorf("%s %s: %s", m.pod.obj, m.c.Name, p)
	}
}

func checkScrape(t *testing.T, p pod, admin int) {
	t.Helper()
	for _, problem := range ScrapeProblems(p.d.Spec.Template.Metadata.Annotations, admin) {
		t.Errorf("%s: %s", p.obj, problem)
	}
}

func checkPodName(t *testing.T, m meshliteContainer) {
	t.Helper()
	for _, p := range PodNameProblems(m.c) {
		t.Errorf("%s %s: %s", m.pod.obj, m.c.Name, p)
	}
}

// checkLowPorts: a door below 1024 needs the pod's unprivileged port range
// to start at or below it, since the ambassador is not root.
func checkLowPorts(t *testing.T, p pod, ports []uint16) {
	t.Helper()
	start := 1024
	for _, s := range p.spec().SecurityContext.Sysctls {
		if s.Name == "net.ipv4.ip_unprivileged_port_start" {
			start, _ = strconv.Atoi(s.Value)
		}
	}
	for _, port := range ports {
		if int(port) < start {
			t.Errorf("%s: a local mapping door on port %d cannot be bound by a non-root ambassador: set the sysctl net.ipv4.ip_unprivileged_port_start to %d or less, or use a source port of 1024 or more", p.obj, port, port)
		}
	}
}

func doorPorts(t *testing.T, rt *routes.RouteTable) []uint16 {
	t.Helper()
	table, err := routes.Compile(rt, policy.Options{})
	if err != nil {
		t.Fatalf("table %s: %v", rt.Metadata.Name, err)
	}
	return table.LocalPorts()
}

func tableNamed(t *testing.T, cm GeneratedConfigMap, name string) *routes.RouteTable {
	t.Helper()
	for key, data := range cm.Data {
		rt, err := routes.Parse([]byte(data))
		if err != nil {
			t.Fatalf("ConfigMap %s key %s: %v", cm.Name, key, err)
		}
		if rt.Metadata.Name == name {
			return rt
		}
	}
	t.Fatalf("ConfigMap %s has no RouteTable named %q: the control plane would have nothing for that workload", cm.Name, name)
	return nil
}

// bootstrapTable is the file the ambassador's --routes names: a key of a
// mounted, generated ConfigMap, valid as `ambassador check-config` sees it.
func bootstrapTable(t *testing.T, tree *Tree, m meshliteContainer) *routes.RouteTable {
	t.Helper()
	file := m.flag(t, "routes")
	name := mountedConfigMap(t, m, filepath.Dir(file))
	cm, ok := tree.ConfigMap(m.pod.obj.Namespace, name)
	if !ok {
		t.Fatalf("%s: ConfigMap %s is not generated by any kustomization", m.pod.obj, name)
	}
	key := filepath.Base(file)
	if _, ok := cm.Data[key]; !ok {
		t.Fatalf("%s: --routes %s, but ConfigMap %s has no key %q", m.pod.obj, file, name, key)
	}
	path := filepath.Join(materialize(t, cm), key)
	for _, problem := range config.CheckFile(path) {
		t.Errorf("%s: bootstrap table (%s): %s", m.pod.obj, cm.Paths[key], problem)
	}
	rt, err := routes.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func addrPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("address %q has no port", addr)
	}
	return n
}

func TestServicesSelectPods(t *testing.T) {
	tree := loadTree(t)
	all := pods(t, tree)
	for _, o := range tree.Find("Service") {
		var svc Service
		if err := o.Decode(&svc); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(all, func(p pod) bool {
			return p.obj.Namespace == o.Namespace && Selects(svc.Spec.Selector, p.d.Spec.Template.Metadata.Labels)
		})
		if i < 0 {
			t.Errorf("%s: its selector %v matches no Deployment's pods in %s", o, svc.Spec.Selector, o.Namespace)
			continue
		}
		for _, sp := range svc.Spec.Ports {
			if !slices.ContainsFunc(all[i].spec().AllContainers(), func(c Container) bool {
				_, err := sp.TargetPort.Resolve(c.Ports)
				return err == nil
			}) {
				t.Errorf("%s: port %s targets %q, which no container of %s declares", o, sp.Name, sp.TargetPort, all[i].obj)
			}
		}
	}
}
