package deploytest

import (
	"bytes"
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKustomizeRender renders the manifests with kubectl's kustomize and
// checks the result against the model the other tests use: the same
// objects, the same ConfigMap data, and generated names wired through.
func TestKustomizeRender(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found: skipping the kustomize render (the model-based checks still ran)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, "kustomize", manifestsDir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", manifestsDir, err, stderr.String())
	}
	rendered, err := ParseObjects("kubectl kustomize output", stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	tree := loadTree(t)
	generated := checkRenderedConfigMaps(t, tree, rendered)
	want := map[string]bool{}
	for _, o := range tree.Objects {
		want[o.Kind+" "+o.Namespace+"/"+o.Name] = true
	}
	for _, o := range rendered {
		if o.Kind == "ConfigMap" {
			continue
		}
		id := o.Kind + " " + o.Namespace + "/" + o.Name
		if !want[id] {
			t.Errorf("kustomize rendered %s, which the model does not know", id)
		}
		delete(want, id)
	}
	for id := range want {
		t.Errorf("kustomize did not render %s", id)
	}
	checkRenderedVolumes(t, rendered, generated)
}

// checkRenderedConfigMaps matches each generated ConfigMap with the
// rendered one and returns the rendered names by namespace/name.
func checkRenderedConfigMaps(t *testing.T, tree *Tree, rendered []Object) map[string]string {
	t.Helper()
	names := map[string]string{}
	for _, g := range tree.Generated {
		i := slices.IndexFunc(rendered, func(o Object) bool {
			if o.Kind != "ConfigMap" || o.Namespace != g.Namespace {
				return false
			}
			rest, ok := strings.CutPrefix(o.Name, g.Name)
			return ok && (rest == "" || g.HashSuffix && strings.HasPrefix(rest, "-"))
		})
		if i < 0 {
			t.Errorf("kustomize rendered no ConfigMap %s/%s", g.Namespace, g.Name)
			continue
		}
		o := rendered[i]
		if (o.Name != g.Name) != g.HashSuffix {
			t.Errorf("ConfigMap %s rendered as %s: hash suffix expected %v", g.Name, o.Name, g.HashSuffix)
		}
		var cm ConfigMap
		if err := o.Decode(&cm); err != nil {
			t.Fatal(err)
		}
		for key, data := range g.Data {
			if cm.Data[key] != data {
				t.Errorf("ConfigMap %s key %s: rendered data differs from %s", o.Name, key, g.Paths[key])
			}
		}
		if len(cm.Data) != len(g.Data) {
			t.Errorf("ConfigMap %s: rendered %d keys, model has %d", o.Name, len(cm.Data), len(g.Data))
		}
		names[g.Namespace+"/"+g.Name] = o.Name
	}
	return names
}

// checkRenderedVolumes: every ConfigMap volume names a rendered ConfigMap
// (kustomize must have rewritten references to hashed names).
func checkRenderedVolumes(t *testing.T, rendered []Object, generated map[string]string) {
	t.Helper()
	have := map[string]bool{}
	for _, n := range generated {
		have[n] = true
	}
	count := 0
	for _, o := range rendered {
		if o.Kind != "Deployment" {
			continue
		}
		var d Deployment
		if err := o.Decode(&d); err != nil {
			t.Fatal(err)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.ConfigMap == nil {
				continue
			}
			count++
			if !have[v.ConfigMap.Name] {
				t.Errorf("%s: volume %s names ConfigMap %q, which kustomize did not render", o, v.Name, v.ConfigMap.Name)
			}
		}
	}
	if count == 0 {
		t.Error("no rendered Deployment mounts a ConfigMap")
	}
}
