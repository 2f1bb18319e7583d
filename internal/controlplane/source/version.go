package source

import (
	"google.golang.org/protobuf/proto"

	"github.com/meshlite/meshlite/internal/xdsconv"
	"github.com/meshlite/meshlite/pkg/routes"
)

// Encoder converts a validated document into the resource served over xDS.
type Encoder func(*routes.RouteTable) (proto.Message, error)

// EncodeProto is the standard Encoder: the meshlite.v1.RouteTable proto.
func EncodeProto(rt *routes.RouteTable) (proto.Message, error) { return xdsconv.ToProto(rt), nil }

// Version is the content hash of a resource (xdsconv.VersionOf): the same
// table gives the same version on every replica, after every restart, and
// in an ambassador that reads it from a file.
func Version(m proto.Message) (string, error) { return xdsconv.VersionOf(m) }
