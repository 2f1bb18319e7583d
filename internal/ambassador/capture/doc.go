// Package capture builds and installs the nftables ruleset with which
// "ambassador init" sends every outbound TCP connection of a pod through the
// ambassador's transparent door, and refuses what the ambassador cannot
// govern.
//
// Everything lives in one table, "inet meshlite": the inet family covers
// IPv4 and IPv6 with the same rules, so IPv6 cannot be forgotten. The table
// is replaced in one netlink batch (add the table, which is a no-op when it
// exists, delete it, add it with its chains and rules, one Flush), which the
// kernel applies as one transaction: there is no moment in which traffic
// escapes, and installing twice gives the same ruleset. Removing deletes
// this table and nothing else. No nft or iptables binary is needed, only
// CAP_NET_ADMIN; Netlink can target another network namespace by file
// descriptor, so a CNI plugin could install the same rules.
//
// Chain nat_output (type nat, hook output, priority -100, policy accept)
// decides what is redirected:
//
//   - meta skuid U meta skgid G return: the ambassador's own connections go
//     out as they are; otherwise they would be redirected back to it, a
//     loop. Both the user and the group must match, so an app that shares
//     only one of them is still captured.
//   - oifname "lo" return: loopback stays local (the app's calls to the
//     ambassador's other doors, to sidecars).
//   - ip/ip6 daddr RESOLVERS tcp dport 53 return: DNS over TCP to the pod's
//     resolvers goes straight out, like DNS over UDP.
//   - tcp dport { PORTS } return, ip/ip6 daddr CIDR return: the operator's
//     exclusions (--exclude-ports, --exclude-cidrs), for a database protocol
//     the ambassador does not speak, say.
//   - meta l4proto tcp redirect to :PORT: all other TCP, IPv4 and IPv6, to
//     the capture port; the ambassador reads the original destination with
//     SO_ORIGINAL_DST.
//
// Chain filter_output (type filter, hook output, priority filter, policy
// accept, but its last rule rejects) decides what may leave at all:
//
//   - the ambassador's own traffic and loopback are accepted, as above;
//   - ct state invalid drop: a packet that connection tracking cannot place
//     in a connection (an out-of-window TCP segment, one crafted by a
//     process with CAP_NET_RAW) never reaches nat_output, which sees only
//     tracked connections, so it is not redirected; without this rule
//     "meta l4proto tcp accept" would let it leave the pod past the
//     ambassador. Istio-style redirects drop INVALID for the same reason;
//   - ct state established,related accept: replies and the ICMP errors of
//     connections already let out;
//   - meta l4proto tcp accept: TCP was redirected by nat_output (or
//     exempted on purpose), so it is governed;
//   - ip/ip6 daddr RESOLVERS udp dport 53 accept: DNS, to the pod's
//     resolvers only (a DNS tunnel to another server stays closed);
//   - icmpv6 type { nd-router-solicit, nd-router-advert,
//     nd-neighbor-solicit, nd-neighbor-advert } accept: IPv6 neighbour
//     discovery, without which IPv6 stops working altogether;
//   - meta l4proto udp accept, only with AllowUDP;
//   - reject with icmpx admin-prohibited: everything else (UDP including
//     QUIC, ICMP, other protocols) is refused at once, with an ICMP or ICMPv6
//     error the client sees, because the ambassador cannot apply policy to
//     it.
//
// The threat model has limits: a process that can become the proxy user and
// group, or that holds CAP_NET_ADMIN in the pod, can escape the capture.
//
// Ruleset is a small model of the two chains. Its String is the ruleset as
// nft text, exactly as "nft list table inet meshlite" prints the installed
// table, so "ambassador init --dry-run" shows what will be installed and the
// tests compare the kernel's listing with it.
package capture
