package deploytest

import (
	"fmt"
	"slices"
)

// NetworkPolicy is the part of a networking.k8s.io/v1 NetworkPolicy that
// decides who may connect in.
type NetworkPolicy struct {
	Metadata struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		PodSelector LabelSelector `yaml:"podSelector"`
		Ingress     []IngressRule `yaml:"ingress"`
	} `yaml:"spec"`
}

// IngressRule admits its peers (all when none) to its ports (all when
// none).
type IngressRule struct {
	Ports []PolicyPort `yaml:"ports"`
	From  []Peer       `yaml:"from"`
}

// PolicyPort is one port of an ingress rule, by number.
type PolicyPort struct {
	Port     int    `yaml:"port"`
	Protocol string `yaml:"protocol"`
}

// Peer is one entry of an ingress rule's from list. A nil selector is
// absent; an empty one selects everything.
type Peer struct {
	PodSelector       *LabelSelector `yaml:"podSelector"`
	NamespaceSelector *LabelSelector `yaml:"namespaceSelector"`
}

// Matches reports whether labels satisfy every term of s, as the API server
// reads a LabelSelector; an unknown operator is an error.
func (s LabelSelector) Matches(labels map[string]string) (bool, error) {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false, nil
		}
	}
	for _, e := range s.MatchExpressions {
		v, has := labels[e.Key]
		var ok bool
		switch e.Operator {
		case "In":
			ok = has && slices.Contains(e.Values, v)
		case "NotIn":
			ok = !has || !slices.Contains(e.Values, v)
		case "Exists":
			ok = has
		case "DoesNotExist":
			ok = !has
		default:
			return false, fmt.Errorf("deploytest: selector operator %q is not known", e.Operator)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// Client is a pod that opens a connection: its namespace, that namespace's
// labels and its own labels.
type Client struct {
	Namespace       string
	NamespaceLabels map[string]string
	Labels          map[string]string
}

// Admits reports whether an ingress rule of p lets client connect to TCP
// port on the pods p selects in its namespace ns. A rule without ports
// allows every port, a rule without from every client. Ports are matched
// by number only.
func (p NetworkPolicy) Admits(ns string, client Client, port int) (bool, error) {
	for _, rule := range p.Spec.Ingress {
		if len(rule.Ports) > 0 && !slices.ContainsFunc(rule.Ports, func(rp PolicyPort) bool {
			return rp.Port == port && (rp.Protocol == "" || rp.Protocol == "TCP")
		}) {
			continue
		}
		if len(rule.From) == 0 {
			return true, nil
		}
		for _, peer := range rule.From {
			ok, err := peer.admits(ns, client)
			if ok || err != nil {
				return ok, err
			}
		}
	}
	return false, nil
}

// admits: a podSelector alone selects pods of the policy's namespace; a
// namespaceSelector selects namespaces, narrowed by a podSelector beside it.
func (peer Peer) admits(ns string, c Client) (bool, error) {
	if peer.NamespaceSelector == nil {
		if peer.PodSelector == nil || c.Namespace != ns {
			return false, nil
		}
		return peer.PodSelector.Matches(c.Labels)
	}
	nsLabels := map[string]string{"kubernetes.io/metadata.name": c.Namespace}
	for k, v := range c.NamespaceLabels {
		nsLabels[k] = v
	}
	ok, err := peer.NamespaceSelector.Matches(nsLabels)
	if !ok || err != nil || peer.PodSelector == nil {
		return ok, err
	}
	return peer.PodSelector.Matches(c.Labels)
}

// XDSPort is the control plane's xDS port as the manifests deploy it.
const XDSPort = 18000

// XDSAdmits reports whether the control plane's NetworkPolicy
// (meshlite-controlplane) in tree lets client reach the xDS port.
func XDSAdmits(tree *Tree, client Client) (bool, error) {
	for _, o := range tree.Find("NetworkPolicy") {
		if o.Name != "meshlite-controlplane" {
			continue
		}
		var p NetworkPolicy
		if err := o.Decode(&p); err != nil {
			return false, err
		}
		return p.Admits(o.Namespace, client, XDSPort)
	}
	return false, fmt.Errorf("deploytest: no NetworkPolicy meshlite-controlplane")
}
