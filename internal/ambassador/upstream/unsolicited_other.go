//go:build !linux

package upstream

import "net"

// unsolicited is the peek of unsolicited_linux.go; elsewhere a pooled
// connection is only checked by the answer it gives.
func unsolicited(net.Conn) bool { return false }
