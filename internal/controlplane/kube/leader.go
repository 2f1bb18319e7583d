package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// elect takes part in the election of the status writer until ctx is
// done; while this replica holds the Lease it writes status.
func (s *Source) elect(ctx context.Context, store cache.Store) {
	log := s.log.With("lease", s.opts.LeaseNamespace+"/"+s.opts.LeaseName, "identity", s.opts.Identity)
	cfg := leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: s.opts.LeaseNamespace, Name: s.opts.LeaseName},
			Client:     s.kube.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: s.opts.Identity},
		},
		LeaseDuration:   orDefault(s.opts.LeaseDuration, 15*time.Second),
		RenewDeadline:   orDefault(s.opts.RenewDeadline, 10*time.Second),
		RetryPeriod:     orDefault(s.opts.RetryPeriod, 2*time.Second),
		ReleaseOnCancel: true,
		Name:            s.opts.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("kube: this replica now writes RouteTable status")
				s.metrics.leader.Set(1)
				s.writeStatus(ctx, store)
			},
			OnStoppedLeading: func() {
				s.metrics.leader.Set(0)
				log.Info("kube: this replica no longer writes RouteTable status")
			},
		},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(cfg)
		if err != nil {
			log.Error("kube: leader election misconfigured; status is not written by this replica", "error", err)
			return
		}
		le.Run(ctx) // returns when the lease is lost or ctx is done
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// randomSuffix is 8 hex digits.
func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
