package kubetest

import "syscall"

// procAttr has the kernel kill a cluster's servers if the test binary dies
// without stopping them (a test timeout's panic, a SIGKILL).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
