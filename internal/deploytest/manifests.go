// Package deploytest reads meshlite's Kubernetes manifests (deploy/manifests)
// the way kustomize assembles them, so that tests can check them without a
// cluster: every document parses, every file a kustomization names exists,
// container arguments use flags the binaries define, mounted RouteTables are
// valid, and the pieces point at each other (Service ports, ConfigMap keys,
// probe ports).
//
// The model is deliberately small: resources, namespace and
// configMapGenerator are understood; other kustomize features are not, and a
// kustomization that uses one is reported rather than misread.
package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kustomization is the part of a kustomization.yaml this package understands.
type Kustomization struct {
	// Dir is the directory holding the kustomization.yaml.
	Dir        string `yaml:"-"`
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Namespace  string `yaml:"namespace"`
	// Resources are files or directories, relative to Dir.
	Resources          []string    `yaml:"resources"`
	ConfigMapGenerator []Generator `yaml:"configMapGenerator"`
	GeneratorOptions   struct {
		DisableNameSuffixHash bool `yaml:"disableNameSuffixHash"`
	} `yaml:"generatorOptions"`
	Labels []struct {
		Pairs map[string]string `yaml:"pairs"`
	} `yaml:"labels"`
	Images []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

// Generator is one configMapGenerator entry.
type Generator struct {
	Name string `yaml:"name"`
	// Files are "path" or "key=path", relative to the kustomization's Dir.
	Files    []string `yaml:"files"`
	Literals []string `yaml:"literals"`
}

// FileKeys returns each file's ConfigMap key and path, as kustomize derives
// them: the text before "=", else the file's base name.
func (g Generator) FileKeys() (keys, paths []string) {
	for _, f := range g.Files {
		key, path, ok := strings.Cut(f, "=")
		if !ok {
			key, path = filepath.Base(f), f
		}
		keys, paths = append(keys, key), append(paths, path)
	}
	return keys, paths
}

// Object is one Kubernetes document: where it came from, its identity after
// the kustomization's namespace is applied, and its YAML for typed decoding.
type Object struct {
	File      string
	Doc       int // 0-based index within File
	Kind      string
	Name      string
	Namespace string
	Node      *yaml.Node
}

// String names the object and where it was read.
func (o Object) String() string {
	return fmt.Sprintf("%s %s/%s (%s document %d)", o.Kind, o.Namespace, o.Name, o.File, o.Doc)
}

// Decode decodes the object into v.
func (o Object) Decode(v any) error {
	if err := o.Node.Decode(v); err != nil {
		return fmt.Errorf("deploytest: %s: %w", o, err)
	}
	return nil
}

// Tree is a kustomization and everything it includes, depth first.
type Tree struct {
	Kustomizations []*Kustomization
	Objects        []Object
	// Generated are the ConfigMaps the generators would produce, with the
	// name before any hash suffix and Data filled from the files.
	Generated []GeneratedConfigMap
}

// GeneratedConfigMap is one configMapGenerator's output.
type GeneratedConfigMap struct {
	Kustomization *Kustomization
	Name          string
	Namespace     string
	HashSuffix    bool
	Data          map[string]string
	// Paths maps each key to the file it came from.
	Paths map[string]string
}

// Load reads the kustomization in dir and everything it includes. Every
// problem found is returned, joined, each naming the file.
func Load(dir string) (*Tree, error) {
	t := &Tree{}
	var errs []error
	t.load(dir, "", map[string]bool{}, &errs)
	return t, errors.Join(errs...)
}

func (t *Tree) load(dir, outerNS string, seen map[string]bool, errs *[]error) {
	abs, err := filepath.Abs(dir)
	if err != nil || seen[abs] {
		return
	}
	seen[abs] = true
	k, err := ReadKustomization(dir)
	if err != nil {
		*errs = append(*errs, err)
		return
	}
	t.Kustomizations = append(t.Kustomizations, k)
	// An including kustomization's namespace wins over this one's, as in
	// kustomize (its namespace transformer runs last, over everything).
	ns := outerNS
	if ns == "" {
		ns = k.Namespace
	}
	for _, r := range k.Resources {
		t.loadResource(k, r, ns, seen, errs)
	}
	for _, g := range k.ConfigMapGenerator {
		t.generate(k, g, ns, errs)
	}
}

func (t *Tree) loadResource(k *Kustomization, r, ns string, seen map[string]bool, errs *[]error) {
	path := filepath.Join(k.Dir, r)
	if err := insideDir(k.Dir, path); err != nil {
		*errs = append(*errs, fmt.Errorf("deploytest: %s: resources: %w", kfile(k), err))
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("deploytest: %s: resources: %q: %w", kfile(k), r, err))
		return
	}
	if st.IsDir() {
		t.load(path, ns, seen, errs)
		return
	}
	objs, err := ReadObjects(path)
	if err != nil {
		*errs = append(*errs, err)
		return
	}
	for _, o := range objs {
		if ns != "" && o.Kind != "Namespace" && !clusterScoped[o.Kind] {
			o.Namespace = ns
		}
		t.Objects = append(t.Objects, o)
	}
}

// clusterScoped kinds never get the kustomization's namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"CustomResourceDefinition": true, "PriorityClass": true, "StorageClass": true,
}

func (t *Tree) generate(k *Kustomization, g Generator, ns string, errs *[]error) {
	cm := GeneratedConfigMap{
		Kustomization: k, Name: g.Name, Namespace: ns, HashSuffix: !k.GeneratorOptions.DisableNameSuffixHash,
		Data: map[string]string{}, Paths: map[string]string{},
	}
	if len(g.Literals) > 0 {
		*errs = append(*errs, fmt.Errorf("deploytest: %s: configMapGenerator %q: literals are not modelled here (use files)", kfile(k), g.Name))
	}
	keys, paths := g.FileKeys()
	for i, key := range keys {
		path := filepath.Join(k.Dir, paths[i])
		if err := insideDir(k.Dir, path); err != nil {
			*errs = append(*errs, fmt.Errorf("deploytest: %s: configMapGenerator %q: %w", kfile(k), g.Name, err))
			continue
		}
		if _, dup := cm.Data[key]; dup {
			*errs = append(*errs, fmt.Errorf("deploytest: %s: configMapGenerator %q: key %q twice", kfile(k), g.Name, key))
		}
		data, err := os.ReadFile(path)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("deploytest: %s: configMapGenerator %q: %w", kfile(k), g.Name, err))
			continue
		}
		cm.Data[key], cm.Paths[key] = string(data), path
	}
	t.Generated = append(t.Generated, cm)
}

// insideDir mirrors kustomize's default load restriction: a kustomization
// may read only files in or below its own directory (symbolic links are
// followed first, so a link pointing out is refused too).
func insideDir(dir, path string) error {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	realPath, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(realDir, realPath)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s is not in or below %s: kustomize refuses it (copy the file into the directory)", path, dir)
	}
	return nil
}

func kfile(k *Kustomization) string { return filepath.Join(k.Dir, "kustomization.yaml") }

// ReadKustomization reads dir/kustomization.yaml and rejects fields this
// package does not model, so that a check never passes on a misread file.
func ReadKustomization(dir string) (*Kustomization, error) {
	path := filepath.Join(dir, "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deploytest: %w", err)
	}
	k := &Kustomization{Dir: dir}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(k); err != nil {
		return nil, fmt.Errorf("deploytest: %s: %w (a field this check does not model? extend Kustomization)", path, err)
	}
	if k.Kind != "Kustomization" {
		return nil, fmt.Errorf("deploytest: %s: kind %q, want Kustomization", path, k.Kind)
	}
	return k, nil
}

// ReadObjects parses every YAML document in path. A document must have
// apiVersion, kind and metadata.name; empty documents are skipped.
func ReadObjects(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deploytest: %w", err)
	}
	return ParseObjects(path, data)
}

// ParseObjects parses every YAML document in data; name labels errors.
func ParseObjects(name string, data []byte) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Object
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("deploytest: %s document %d: %w", name, i, err)
		}
		if len(n.Content) == 0 || n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null" {
			continue
		}
		var head struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   Meta   `yaml:"metadata"`
		}
		if err := n.Decode(&head); err != nil {
			return nil, fmt.Errorf("deploytest: %s document %d: %w", name, i, err)
		}
		if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
			return nil, fmt.Errorf("deploytest: %s document %d: apiVersion, kind and metadata.name are required", name, i)
		}
		out = append(out, Object{File: name, Doc: i, Kind: head.Kind, Name: head.Metadata.Name,
			Namespace: head.Metadata.Namespace, Node: &n})
	}
}

// Find returns the objects of kind (all kinds when empty).
func (t *Tree) Find(kind string) []Object {
	var out []Object
	for _, o := range t.Objects {
		if kind == "" || o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// ConfigMap returns the generated ConfigMap with that name and namespace.
func (t *Tree) ConfigMap(namespace, name string) (GeneratedConfigMap, bool) {
	i := slices.IndexFunc(t.Generated, func(c GeneratedConfigMap) bool {
		return c.Name == name && c.Namespace == namespace
	})
	if i < 0 {
		return GeneratedConfigMap{}, false
	}
	return t.Generated[i], true
}
