package propagation

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// configMap lays RouteTable files out as a Kubernetes ConfigMap volume
// does: the files live in a timestamped directory, "..data" links to it,
// and each top-level name.yaml links to ..data/name.yaml. An edit writes a
// new timestamped directory and renames a new "..data" link over the old
// one, so every file changes at one instant, as it does in a pod.
type configMap struct {
	dir     string
	names   []string
	gens    []int  // current generation of each table
	current string // the timestamped directory ..data points to
	seq     int
}

// newConfigMap writes generation 0 of every table into dir.
func newConfigMap(dir string, names []string) (*configMap, error) {
	c := &configMap{dir: dir, names: names, gens: make([]int, len(names))}
	stamp, err := c.prepare(nil)
	if err != nil {
		return nil, err
	}
	if err := os.Symlink(stamp, filepath.Join(dir, "..data")); err != nil {
		return nil, fmt.Errorf("propagation: %w", err)
	}
	for _, name := range names {
		link := filepath.Join(dir, name+".yaml")
		if err := os.Symlink(filepath.Join("..data", name+".yaml"), link); err != nil {
			return nil, fmt.Errorf("propagation: %w", err)
		}
	}
	c.current = stamp
	return c, nil
}

// prepare writes a new timestamped directory in which the tables whose
// indexes are in changed have the next generation. Nothing serves it until
// swap.
func (c *configMap) prepare(changed []int) (string, error) {
	c.seq++
	stamp := fmt.Sprintf("..2026_%06d", c.seq)
	dir := filepath.Join(c.dir, stamp)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("propagation: %w", err)
	}
	next := append([]int(nil), c.gens...)
	for _, i := range changed {
		next[i]++
	}
	for i, name := range c.names {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(tableYAML(name, next[i])), 0o644); err != nil {
			return "", fmt.Errorf("propagation: %w", err)
		}
	}
	if changed != nil {
		c.gens = next
	}
	return stamp, nil
}

// swap points ..data at stamp in one rename and returns the instant just
// before it; the previous directory is removed by cleanup.
func (c *configMap) swap(stamp string) (time.Time, string, error) {
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(stamp, tmp); err != nil {
		return time.Time{}, "", fmt.Errorf("propagation: %w", err)
	}
	at := time.Now()
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		return time.Time{}, "", fmt.Errorf("propagation: %w", err)
	}
	old := c.current
	c.current = stamp
	return at, old, nil
}

// remove deletes a timestamped directory no longer linked.
func (c *configMap) remove(stamp string) error {
	return os.RemoveAll(filepath.Join(c.dir, stamp))
}

// generation returns the current generation of table i.
func (c *configMap) generation(i int) int { return c.gens[i] }

// tableYAML is a realistic table of three routes and three egress rules.
// The generation is in the first route's target path, where the simulated
// ambassadors read it back (see generationOf).
func tableYAML(name string, gen int) string {
	return fmt.Sprintf(`apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: %[1]s
spec:
  mode: enforce
  routes:
    - name: api
      source: http://localhost/api
      target: http://%[1]s-api.apps.svc.cluster.local/g%[2]d/v1
      timeout: 5s
      retry: {attempts: 3, perTryTimeout: 1s, retryOn: [connect-failure, gateway-error]}
    - name: users
      source: http://localhost/users
      target: http://users.identity.svc.cluster.local:8080/v2/users
      timeout: 2s
    - name: search
      source: http://localhost:8081/search
      target: https://search.example.com/q
      timeout: 3s
  egress:
    - name: google-apis
      host: "*.googleapis.com"
      ports: [443]
    - name: timecheck-health
      host: timecheck
      ports: [8080]
      methods: [GET]
      paths: [/healthz]
    - name: metrics
      host: metrics.internal.example.com
      ports: [443, 9090-9091]
`, name, gen)
}

// generationOf reads the generation back from a table's first route
// target ("http://name-api.../g17/v1"); -1 when it has none.
func generationOf(target string) int {
	i := strings.LastIndex(target, "/g")
	if i < 0 {
		return -1
	}
	digits, _, _ := strings.Cut(target[i+2:], "/")
	n, err := strconv.Atoi(digits)
	if err != nil {
		return -1
	}
	return n
}
