package deploytest

import (
	"maps"
	"testing"
)

// namespaceLabels are the labels of the Namespace objects in tree.
func namespaceLabels(t *testing.T, tree *Tree) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, o := range tree.Find("Namespace") {
		var ns struct {
			Metadata Meta `yaml:"metadata"`
		}
		if err := o.Decode(&ns); err != nil {
			t.Fatal(err)
		}
		out[o.Name] = ns.Metadata.Labels
	}
	return out
}

// Every hand-written ambassador pod can reach xDS where the control plane's
// NetworkPolicy is enforced, even in a namespace without
// meshlite.io/inject=enabled, and only because of its
// meshlite.io/ambassador label.
func TestHandWrittenAmbassadorsReachXDS(t *testing.T) {
	tree := loadTree(t)
	nsLabels := namespaceLabels(t, tree)
	n := 0
	for _, c := range meshliteContainers(t, tree, Ambassador) {
		p := c.pod
		n++
		client := Client{Namespace: p.obj.Namespace, NamespaceLabels: nsLabels[p.obj.Namespace], Labels: p.d.Spec.Template.Metadata.Labels}
		if client.NamespaceLabels["meshlite.io/inject"] == "enabled" {
			t.Errorf("%s: its namespace is labelled meshlite.io/inject=enabled; this test wants one without", p.obj)
		}
		if ok, err := XDSAdmits(tree, client); !ok || err != nil {
			t.Errorf("%s: the NetworkPolicy refuses it xDS (err %v); labels %v", p.obj, err, client.Labels)
		}
		client.Labels = maps.Clone(client.Labels)
		delete(client.Labels, "meshlite.io/ambassador")
		if ok, err := XDSAdmits(tree, client); ok || err != nil {
			t.Errorf("%s: without meshlite.io/ambassador the NetworkPolicy still admits it (err %v)", p.obj, err)
		}
	}
	if n == 0 {
		t.Fatal("no ambassador container in the manifests")
	}
}

func TestNetworkPolicyAdmits(t *testing.T) {
	var p NetworkPolicy
	amb := LabelSelector{MatchExpressions: []SelectorTerm{{Key: "mesh", Operator: "Exists"}}}
	p.Spec.Ingress = []IngressRule{{
		Ports: []PolicyPort{{Port: 18000, Protocol: "TCP"}},
		From: []Peer{
			{NamespaceSelector: &LabelSelector{}, PodSelector: &amb},
			{NamespaceSelector: &LabelSelector{MatchLabels: map[string]string{"team": "a"}}},
			{PodSelector: &LabelSelector{}},
		},
	}}
	tests := []struct {
		name   string
		client Client
		port   int
		want   bool
	}{
		{"labelled pod, any namespace", Client{Namespace: "x", Labels: map[string]string{"mesh": "1"}}, 18000, true},
		{"labelled pod, other port", Client{Namespace: "x", Labels: map[string]string{"mesh": "1"}}, 9902, false},
		{"unlabelled pod, other namespace", Client{Namespace: "x"}, 18000, false},
		{"unlabelled pod, selected namespace", Client{Namespace: "x", NamespaceLabels: map[string]string{"team": "a"}}, 18000, true},
		{"unlabelled pod, the policy's namespace", Client{Namespace: "sys"}, 18000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Admits("sys", tt.client, tt.port)
			if err != nil || got != tt.want {
				t.Errorf("Admits = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
