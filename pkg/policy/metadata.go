package policy

import "net/netip"

// MetadataEndpoint is a cloud provider's instance metadata or credentials
// address. The address guard denies these in both modes, whatever the rules
// and routes say: they hand out credentials to whoever asks from the node.
type MetadataEndpoint struct {
	Addr     netip.Addr
	Provider string // who serves it, for documentation and tests
}

// metadataEndpoints is the metadata class. Addresses inside 169.254.0.0/16
// would be denied as link-local anyway; they are listed so that the reason
// names them. The others are what makes the class necessary: they lie in
// ranges the guard otherwise treats as private (fc00::/7, 100.64.0.0/10) or
// public.
var metadataEndpoints = []MetadataEndpoint{
	{netip.MustParseAddr("169.254.169.254"), "AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack and most others"},
	{netip.MustParseAddr("169.254.170.2"), "AWS ECS task metadata and credentials"},
	{netip.MustParseAddr("169.254.170.23"), "AWS EKS Pod Identity Agent"},
	{netip.MustParseAddr("169.254.42.42"), "Scaleway"},
	{netip.MustParseAddr("100.100.100.200"), "Alibaba Cloud"},
	{netip.MustParseAddr("168.63.129.16"), "Azure WireServer"},
	{netip.MustParseAddr("192.0.0.192"), "Oracle Cloud Classic"},
	{netip.MustParseAddr("fd00:ec2::254"), "AWS IMDS over IPv6"},
	{netip.MustParseAddr("fd00:ec2::23"), "AWS EKS Pod Identity Agent over IPv6"},
	{netip.MustParseAddr("fd20:ce::254"), "GCP metadata server over IPv6"},
	{netip.MustParseAddr("fd00:42::42"), "Scaleway over IPv6"},
}

// metadataAddrs indexes metadataEndpoints for the guard.
var metadataAddrs = func() map[netip.Addr]bool {
	m := make(map[netip.Addr]bool, len(metadataEndpoints))
	for _, e := range metadataEndpoints {
		m[e.Addr] = true
	}
	return m
}()

// MetadataEndpoints lists the addresses of the always-denied metadata class
// (IPv6 forms that embed an IPv4 one are denied too). The slice is the
// caller's.
func MetadataEndpoints() []MetadataEndpoint {
	return append([]MetadataEndpoint(nil), metadataEndpoints...)
}
