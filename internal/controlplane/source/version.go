package source

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/meshlite/meshlite/internal/xdsconv"
	"github.com/meshlite/meshlite/pkg/routes"
)

// Encoder converts a validated document into the resource served over xDS.
type Encoder func(*routes.RouteTable) (proto.Message, error)

// EncodeProto is the standard Encoder: the meshlite.v1.RouteTable proto.
func EncodeProto(rt *routes.RouteTable) (proto.Message, error) { return xdsconv.ToProto(rt), nil }

// Version is the content hash of a resource: the first 16 hex characters of
// the SHA-256 of its deterministic protobuf encoding. The same table gives
// the same version on every replica and after every restart.
func Version(m proto.Message) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("source: encode resource: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}
