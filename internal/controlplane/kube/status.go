package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/meshlite/meshlite/internal/controlplane/xds"
)

// ConditionAccepted is the condition that says whether the latest edit of
// a RouteTable is valid (True) or refused (False, with the problems).
const ConditionAccepted = "Accepted"

// Reasons of the Accepted condition.
const (
	ReasonValid   = "Valid"
	ReasonInvalid = "Invalid"
)

// Status is a RouteTable's status as the control plane writes it.
type Status struct {
	// ObservedGeneration is the generation the status describes.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Version is the content version served: the latest generation's when
	// it is accepted, else the last good one; "" when none is served.
	Version string `json:"version,omitempty"`
	// Ambassadors counts the ambassadors of this table connected to the
	// status-writing replica.
	Ambassadors Counts `json:"ambassadors"`
	// Conditions holds Accepted.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Counts are the ambassadors subscribed to one table, and how they answered
// its served version.
type Counts struct {
	Connected int `json:"connected"`
	// Acked ambassadors run the served version.
	Acked int `json:"acked"`
	// Nacked ambassadors refused the served version (and run an older one).
	Nacked int `json:"nacked"`
}

// countAmbassadors counts, for every xDS name, the ambassadors that
// subscribe to it and their answers to version(name).
func countAmbassadors(ambs []xds.Ambassador, version func(name string) string) map[string]Counts {
	out := map[string]Counts{}
	for _, a := range ambs {
		for _, name := range a.Subscribed {
			c := out[name]
			c.Connected++
			switch v := version(name); {
			case v == "":
			case a.LastACKedVersion == v:
				c.Acked++
			case a.LastNACKVersion == v:
				c.Nacked++
			}
			out[name] = c
		}
	}
	return out
}

// desiredStatus is obj's status given its entry and counts, keeping the
// condition's transition time when its status did not change. ok is false
// when the entry does not describe obj's current generation yet.
func desiredStatus(obj *unstructured.Unstructured, e entry, c Counts, now time.Time) (have, want Status, ok bool) {
	if e.uid != string(obj.GetUID()) || e.generation != obj.GetGeneration() {
		return Status{}, Status{}, false
	}
	if m, found, _ := unstructured.NestedMap(obj.Object, "status"); found {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(m, &have)
	}
	want = Status{ObservedGeneration: e.generation, Ambassadors: c}
	want.Conditions = append([]metav1.Condition(nil), have.Conditions...)
	cond := metav1.Condition{Type: ConditionAccepted, ObservedGeneration: e.generation,
		LastTransitionTime: metav1.NewTime(now.Truncate(time.Second))}
	if e.served != nil {
		want.Version = e.served.Version
	}
	if len(e.problems) == 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonValid
		cond.Message = fmt.Sprintf("valid; served as version %s", want.Version)
	} else {
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalid
		cond.Message = strings.Join(e.problems, "\n")
		if want.Version != "" {
			cond.Message += fmt.Sprintf("\n(the last good version, %s, is still served)", want.Version)
		} else {
			cond.Message += "\n(nothing is served for this table)"
		}
	}
	meta.SetStatusCondition(&want.Conditions, cond)
	return have, want, true
}

// writeStatus writes, every StatusInterval until ctx is done, the status
// of each RouteTable whose status changed. It runs on the Lease holder.
func (s *Source) writeStatus(ctx context.Context, store cache.Store) {
	t := time.NewTicker(s.opts.StatusInterval)
	defer t.Stop()
	for {
		s.statusPass(ctx, store)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// statusPass writes the status of every RouteTable that needs it. A write
// that fails (a conflict with a newer object, a network error) is retried
// on the next pass, with the object as the informer then has it.
func (s *Source) statusPass(ctx context.Context, store cache.Store) {
	versions := func(name string) string {
		if e, ok := s.entry(name); ok && e.served != nil {
			return e.served.Version
		}
		return ""
	}
	counts := countAmbassadors(s.opts.Ambassadors(), versions)
	now := time.Now()
	for _, o := range store.List() {
		obj, ok := o.(*unstructured.Unstructured)
		if !ok || ctx.Err() != nil {
			continue
		}
		key := keyOf(obj)
		e, ok := s.entry(key)
		if !ok {
			continue
		}
		have, want, ok := desiredStatus(obj, e, counts[key], now)
		if !ok || equality.Semantic.DeepEqual(have, want) {
			continue
		}
		s.putStatus(ctx, obj, want)
	}
}

func (s *Source) putStatus(ctx context.Context, obj *unstructured.Unstructured, st Status) {
	m, err := toMap(st)
	if err != nil {
		s.log.Error("kube: cannot encode status", "table", reference(obj), "error", err)
		return
	}
	u := obj.DeepCopy()
	u.Object["status"] = m
	_, err = s.dyn.Resource(GVR).Namespace(obj.GetNamespace()).UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: "meshlite-controlplane"})
	switch {
	case err == nil:
		s.metrics.statusWrites.WithLabelValues("ok").Inc()
	case apierrors.IsConflict(err), apierrors.IsNotFound(err), ctx.Err() != nil:
		// a newer object (or none) is on its way through the informer
	default:
		s.metrics.statusWrites.WithLabelValues("error").Inc()
		s.log.Warn("kube: status write failed; retrying on the next pass", "table", reference(obj), "error", err)
	}
}

// toMap is st as the unstructured object holds it.
func toMap(st Status) (map[string]any, error) {
	return runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
}
