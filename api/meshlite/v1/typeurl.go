// Package meshlitev1 holds the meshlite.v1 protos: the RouteTable resource
// that the control plane serves to ambassadors over xDS. The Go code is
// generated from routetable.proto by hack/proto/gen.sh (make proto).
package meshlitev1

// TypeURL is the xDS type URL of a RouteTable resource: ambassadors subscribe
// to it by name (the workload) and the control plane serves it.
const TypeURL = "type.googleapis.com/meshlite.v1.RouteTable"

// WorkloadMetadataKey is the field of the xDS node metadata in which an
// ambassador names its workload; the control plane reads it to know who is
// asking (a wire contract between the two).
const WorkloadMetadataKey = "workload"

// NamespaceMetadataKey is the field of the xDS node metadata in which an
// ambassador names its Kubernetes namespace. With xDS identity on, a value
// that disagrees with the namespace the client proved is refused.
const NamespaceMetadataKey = "namespace"

// ResourceName is the xDS name of a workload's RouteTable: the RouteTable
// resource's "<namespace>/<name>" when the table comes from the Kubernetes
// API (a table applies only to its own namespace), the plain workload name
// when it comes from a directory (namespace ""). The control plane serves
// tables under this name and ambassadors subscribe to it.
func ResourceName(namespace, workload string) string {
	if namespace == "" {
		return workload
	}
	return namespace + "/" + workload
}
