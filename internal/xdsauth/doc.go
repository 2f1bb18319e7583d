// Package xdsauth holds the end-to-end tests of xDS identity: the control
// plane's xDS server (internal/controlplane/xds) and the ambassador's xDS
// client (internal/ambassador/xdsclient) over real TLS on 127.0.0.1, and
// ServiceAccount tokens reviewed by a real kube-apiserver
// (internal/kubetest). It has no code of its own: the two sides may not
// import each other, so they meet here.
package xdsauth
