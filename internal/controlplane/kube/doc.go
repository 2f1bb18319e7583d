// Package kube is the control plane's Kubernetes source: it reads
// RouteTable resources (meshlite.io/v1alpha1, deploy/manifests/crds) with a
// client-go dynamic informer — no generated clients; the objects stay
// unstructured and their spec is validated by pkg/routes exactly as a file
// is — and publishes them through the source.Source interface, so the xDS
// server serves them unchanged.
//
// A table in namespace N is served under the xDS name "N/<name>"
// (meshlitev1.ResourceName), so only ambassadors that say they are in N
// subscribe to it. An invalid edit keeps the last good version serving,
// like a file, and is reported in the resource's status.
//
// Status (conditions Accepted, the served version, and how many connected
// ambassadors ACKed or NACKed it) is written through the status
// subresource by one replica only: the holder of a coordination.k8s.io
// Lease (client-go leader election). Its counts cover the ambassadors
// connected to that replica.
package kube
