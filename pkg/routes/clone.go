package routes

import (
	"slices"

	"github.com/meshlite/meshlite/pkg/policy"
)

// Clone returns a deep copy of rt (nil for nil).
func (rt *RouteTable) Clone() *RouteTable {
	if rt == nil {
		return nil
	}
	c := *rt
	c.Spec.Routes = slices.Clone(rt.Spec.Routes)
	for i := range c.Spec.Routes {
		if rp := c.Spec.Routes[i].Retry; rp != nil {
			cp := *rp
			cp.RetryOn = slices.Clone(rp.RetryOn)
			cp.On = slices.Clone(rp.On)
			c.Spec.Routes[i].Retry = &cp
		}
	}
	c.Spec.DenyCIDRs = slices.Clone(rt.Spec.DenyCIDRs)
	c.Spec.Egress = slices.Clone(rt.Spec.Egress)
	for i := range c.Spec.Egress {
		c.Spec.Egress[i] = cloneRule(c.Spec.Egress[i])
	}
	return &c
}

func cloneRule(r policy.Rule) policy.Rule {
	r.Ports = slices.Clone(r.Ports)
	r.Methods = slices.Clone(r.Methods)
	r.Paths = slices.Clone(r.Paths)
	r.CIDRs = slices.Clone(r.CIDRs)
	return r
}
