// Command etcd is etcd's own server main, built from go.etcd.io/etcd/server/v3
// at the version k8s.io/kubernetes pins, so that the tests' etcd comes from
// the module proxy like kube-apiserver does (Debian's etcd-server is 3.4,
// older than kube-apiserver supports).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
