package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubectlWait bounds one Kubectl call.
const kubectlWait = 2 * time.Minute

// KubectlCmd returns kubectl with args, set up to talk to the cluster (its
// kubeconfig, a discovery cache of its own), for a test that needs stdin,
// the environment or streaming output; Kubectl covers the rest.
func (c *Cluster) KubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	pre := []string{"--kubeconfig=" + c.Kubeconfig, "--cache-dir=" + filepath.Join(c.dir, "kubectl-cache")}
	return exec.CommandContext(ctx, c.kubectl, append(pre, args...)...)
}

// Kubectl runs kubectl with args against the cluster and returns what it
// printed. err is non-nil when kubectl failed (an *exec.ExitError inside for
// a non-zero exit); stderr usually says why.
func (c *Cluster) Kubectl(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlWait)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := c.KubectlCmd(ctx, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err = cmd.Run(); err != nil {
		err = fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), err
}
