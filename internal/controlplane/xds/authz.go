package xds

import (
	"fmt"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	meshlitev1 "github.com/meshlite/meshlite/api/meshlite/v1"
)

// Reasons a stream is refused: the label values of
// meshlite_controlplane_xds_denied_total.
const (
	ReasonUnauthenticated = "unauthenticated" // no credential where one is required
	ReasonBadCredential   = "bad_credential"  // a certificate or token that names no acceptable identity
	ReasonReviewFailed    = "review_failed"   // the TokenReview could not be made (Unavailable, not a denial)
	ReasonWildcard        = "wildcard"        // an identified client asked for every table
	ReasonNamespace       = "namespace"       // a table outside the identity's namespace
	ReasonWorkload        = "workload"        // another workload's table
	ReasonNodeMetadata    = "node_metadata"   // node metadata that contradicts the identity
)

var denyReasons = []string{
	ReasonUnauthenticated, ReasonBadCredential, ReasonReviewFailed, ReasonWildcard,
	ReasonNamespace, ReasonWorkload, ReasonNodeMetadata,
}

// Decision is the verdict on one request of an identified client.
type Decision struct {
	Allowed bool
	Reason  string // a Reason* constant when refused
	Detail  string // what was refused and why, for the client and the log
}

func allow() Decision { return Decision{Allowed: true} }

func deny(reason, format string, args ...any) Decision {
	return Decision{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// request is what authorize looks at in a discovery request.
type request struct {
	node     *core.Node // nil when the request carries none
	names    []string   // resources asked for
	wildcard bool       // the request asks for every resource
}

// authorize decides whether id may make req.
//
// The rule, by resource name:
//   - "<namespace>/<workload>" (the Kubernetes source): the identity's
//     namespace must be <namespace>, and an identity naming a workload
//     (a client certificate) must name <workload>. An identity without a
//     namespace (a certificate with only a CN) reads no namespaced table.
//   - "<workload>" (the directory source, no namespaces): the identity must
//     name exactly that workload; a ServiceAccount token names none, so it
//     reads no plain table.
//
// A wildcard subscription (no names, or "*") is refused: an identified
// client asks for its tables by name. Node metadata "namespace" or
// "workload" that disagrees with the identity is refused.
func authorize(id Identity, req request) Decision {
	if d := checkNode(id, req.node); !d.Allowed {
		return d
	}
	if req.wildcard {
		return deny(ReasonWildcard, "%s may not subscribe to every table (wildcard); subscribe by name", id)
	}
	for _, name := range req.names {
		if d := authorizeName(id, name); !d.Allowed {
			return d
		}
	}
	return allow()
}

func checkNode(id Identity, node *core.Node) Decision {
	fields := node.GetMetadata().GetFields()
	if ns := fields[meshlitev1.NamespaceMetadataKey].GetStringValue(); ns != "" && id.Namespace != "" && ns != id.Namespace {
		return deny(ReasonNodeMetadata, "%s (namespace %q) sent node metadata namespace %q", id, id.Namespace, ns)
	}
	if w := fields[meshlitev1.WorkloadMetadataKey].GetStringValue(); w != "" && id.Workload != "" && w != id.Workload {
		return deny(ReasonNodeMetadata, "%s (workload %q) sent node metadata workload %q", id, id.Workload, w)
	}
	return allow()
}

func authorizeName(id Identity, name string) Decision {
	if name == "*" {
		return deny(ReasonWildcard, "%s may not subscribe to every table (wildcard); subscribe by name", id)
	}
	ns, workload, namespaced := strings.Cut(name, "/")
	if !namespaced {
		ns, workload = "", name
	}
	switch {
	case namespaced && (!validLabel(ns) || !validLabel(workload)):
		return deny(ReasonNamespace, "%s asked for %q, which is not <namespace>/<workload>", id, name)
	case namespaced && id.Namespace == "":
		return deny(ReasonNamespace, "%s asked for %q: the identity names no namespace, so it reads no namespaced table", id, name)
	case namespaced && ns != id.Namespace:
		return deny(ReasonNamespace, "%s asked for %q: namespace %q is not the identity's namespace %q", id, name, ns, id.Namespace)
	case id.Workload == "" && !namespaced:
		return deny(ReasonNamespace, "%s asked for %q, a table of no namespace: the identity covers namespace %q only (<namespace>/<workload> names)", id, name, id.Namespace)
	case id.Workload != "" && workload != id.Workload:
		return deny(ReasonWorkload, "%s asked for %q: workload %q is not the identity's workload %q", id, name, workload, id.Workload)
	}
	return allow()
}
