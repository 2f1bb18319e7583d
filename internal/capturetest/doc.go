// Package capturetest tests transparent capture end to end, from network
// namespaces: a "pod" namespace where `ambassador init` installs the capture
// and the ambassador runs as its own user, joined by a veth pair to a
// "world" namespace holding an allowed upstream, a decoy that records every
// byte it receives, a TLS server that records SNI, a TCP echo and UDP sinks.
// A client in the pod, running as another user with no proxy settings,
// tries what an app (or an attacker inside it) would try, and the tests
// check what reached the world and what the audit log says.
//
// The package holds tests only and is imported by nothing. The tests need
// root and the ip, nft and setpriv commands; without them they skip, and
// under CI=true they fail.
package capturetest
