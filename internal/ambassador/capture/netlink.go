package capture

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// An Installer puts a Ruleset into a network namespace and takes it out.
type Installer interface {
	// Install replaces the meshlite table with rs, atomically: at every
	// moment the namespace has the old table or the new one, never none.
	Install(rs *Ruleset) error
	// Remove deletes the meshlite table and nothing else; no table is no
	// error.
	Remove() error
}

// Netlink returns the Installer that speaks nf_tables over netlink (no nft
// or iptables binary). netnsFD, when positive, is an open file of the
// network namespace to change (/proc/PID/ns/net, /run/netns/NAME), so a CNI
// plugin can install into a pod's namespace; 0 means the caller's own.
// It needs CAP_NET_ADMIN in that namespace.
func Netlink(netnsFD int) Installer {
	return &netlinkInstaller{netnsFD: netnsFD}
}

type netlinkInstaller struct {
	netnsFD int
}

var _ Installer = (*netlinkInstaller)(nil)

func (n *netlinkInstaller) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if n.netnsFD > 0 {
		opts = append(opts, nftables.WithNetNSFd(n.netnsFD))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("capture: netlink: %w", err)
	}
	return c, nil
}

func table() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
}

// Install sends one batch: add the table (a no-op when it exists), delete
// it, add it again with its chains, sets and rules. The kernel applies the
// batch as one transaction, so there is never a moment without capture.
func (n *netlinkInstaller) Install(rs *Ruleset) error {
	c, err := n.conn()
	if err != nil {
		return err
	}
	t := table()
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	b := &batch{conn: c, table: t}
	for _, ch := range rs.Chains {
		if err := b.addChain(ch); err != nil {
			return fmt.Errorf("capture: install: chain %s: %w", ch.Name, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("capture: install table inet %s: %w%s", TableName, err, hint(err))
	}
	return nil
}

// Remove sends one batch: add the table (so that deleting it cannot fail
// for want of it), delete it.
func (n *netlinkInstaller) Remove() error {
	c, err := n.conn()
	if err != nil {
		return err
	}
	t := table()
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("capture: remove table inet %s: %w%s", TableName, err, hint(err))
	}
	return nil
}

// hint says how to fix a refusal by the kernel.
func hint(err error) string {
	if errors.Is(err, unix.EPERM) {
		return " (changing nftables needs CAP_NET_ADMIN in the network namespace: give the init container NET_ADMIN)"
	}
	return ""
}

// batch turns the model into netlink messages on one connection. It numbers
// the anonymous sets itself (unique within the batch, which is all the kernel
// asks) rather than through the library's process-wide counter.
type batch struct {
	conn   *nftables.Conn
	table  *nftables.Table
	setIDs uint32
}

func (b *batch) addChain(ch Chain) error {
	policy := nftables.ChainPolicyAccept
	chain := b.conn.AddChain(&nftables.Chain{
		Name:     ch.Name,
		Table:    b.table,
		Type:     nftables.ChainType(ch.Type),
		Hooknum:  nftables.ChainHookOutput,
		Priority: nftables.ChainPriorityRef(nftables.ChainPriority(ch.Priority)),
		Policy:   &policy,
	})
	for _, r := range ch.Rules {
		exprs, err := b.ruleExprs(r)
		if err != nil {
			return fmt.Errorf("rule %q: %w", r, err)
		}
		b.conn.AddRule(&nftables.Rule{Table: b.table, Chain: chain, Exprs: exprs})
	}
	return nil
}

func (b *batch) ruleExprs(r Rule) ([]expr.Any, error) {
	var exprs []expr.Any
	for _, m := range r.Match {
		e, err := b.matchExprs(m)
		if err != nil {
			return nil, err
		}
		exprs = append(exprs, e...)
	}
	return append(exprs, verdictExprs(r.Verdict)...), nil
}

// matchExprs compiles a match the way nft itself does, dependencies
// included (meta nfproto before an IP header field, meta l4proto before a
// transport header field), so that nft lists the rule back as the same text.
func (b *batch) matchExprs(m Match) ([]expr.Any, error) {
	switch m := m.(type) {
	case Owner:
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
			cmpEq(binaryutil.NativeEndian.PutUint32(m.UID)),
			&expr.Meta{Key: expr.MetaKeySKGID, Register: 1},
			cmpEq(binaryutil.NativeEndian.PutUint32(m.GID)),
		}, nil
	case OutInterface:
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, m)
		return []expr.Any{&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, cmpEq(name)}, nil
	case CtState:
		if m == 0 {
			return nil, fmt.Errorf("no conntrack states")
		}
		// Any of the states: the state bits masked with the set are not 0.
		return []expr.Any{
			&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{
				SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(uint32(m)),
				Xor:  make([]byte, 4),
			},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		}, nil
	case L4Proto:
		return l4proto(m), nil
	case DestAddrs:
		return b.destAddrs(m)
	case DestPorts:
		return b.destPorts(m)
	case ICMPv6Types:
		exprs := append(nfproto(unix.NFPROTO_IPV6), l4proto(unix.IPPROTO_ICMPV6)...)
		exprs = append(exprs, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1})
		keys := make([][]byte, len(m))
		for i, t := range m {
			keys[i] = []byte{t}
		}
		return b.lookup(exprs, nftables.TypeICMP6Type, keys)
	}
	return nil, fmt.Errorf("no netlink form for match %T", m)
}

func (b *batch) destAddrs(m DestAddrs) ([]expr.Any, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("no addresses")
	}
	family, offset, keyType := byte(unix.NFPROTO_IPV4), uint32(16), nftables.TypeIPAddr
	if !m.Is4() {
		family, offset, keyType = unix.NFPROTO_IPV6, 24, nftables.TypeIP6Addr
	}
	exprs := nfproto(family)
	if len(m) == 1 {
		return append(exprs, prefixExprs(m[0], offset)...), nil
	}
	keys := make([][]byte, len(m))
	for i, p := range m {
		if !p.IsSingleIP() || p.Addr().Is4() != m.Is4() {
			return nil, fmt.Errorf("a set holds single addresses of one family, not %s", p)
		}
		keys[i] = p.Addr().AsSlice()
	}
	exprs = append(exprs, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: keyType.Bytes})
	return b.lookup(exprs, keyType, keys)
}

// prefixExprs compares the destination address at offset with p: a prefix
// on a byte boundary loads only its bytes; another one loads the whole
// address and masks it.
func prefixExprs(p netip.Prefix, offset uint32) []expr.Any {
	addr := p.Addr().AsSlice()
	if p.Bits()%8 == 0 {
		n := uint32(p.Bits() / 8)
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: n},
			cmpEq(addr[:n]),
		}
	}
	maskBytes := make([]byte, len(addr))
	for i := 0; i < p.Bits(); i++ {
		maskBytes[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: uint32(len(addr))},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(addr)), Mask: maskBytes, Xor: make([]byte, len(addr))},
		cmpEq(addr),
	}
}

func (b *batch) destPorts(m DestPorts) ([]expr.Any, error) {
	exprs := append(l4proto(m.Proto), &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	if len(m.Ports) == 1 {
		return append(exprs, cmpEq(binaryutil.BigEndian.PutUint16(m.Ports[0]))), nil
	}
	keys := make([][]byte, len(m.Ports))
	for i, p := range m.Ports {
		keys[i] = binaryutil.BigEndian.PutUint16(p)
	}
	return b.lookup(exprs, nftables.TypeInetService, keys)
}

// lookup adds a constant anonymous set of keys to the batch and appends to
// exprs the expression that looks register 1 up in it.
func (b *batch) lookup(exprs []expr.Any, keyType nftables.SetDatatype, keys [][]byte) ([]expr.Any, error) {
	b.setIDs++
	s := &nftables.Set{
		Table:     b.table,
		ID:        b.setIDs,
		Name:      "__set%d",
		Anonymous: true,
		Constant:  true,
		KeyType:   keyType,
	}
	elems := make([]nftables.SetElement, len(keys))
	for i, k := range keys {
		elems[i] = nftables.SetElement{Key: k}
	}
	if err := b.conn.AddSet(s, elems); err != nil {
		return nil, err
	}
	return append(exprs, &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}), nil
}

func verdictExprs(v Verdict) []expr.Any {
	switch v := v.(type) {
	case Return:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}}
	case Accept:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	case Drop:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	case Redirect:
		return []expr.Any{
			&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(v.Port)},
			&expr.Redir{RegisterProtoMin: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED},
		}
	case Reject:
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}}
	}
	panic(fmt.Sprintf("capture: no netlink form for verdict %T", v))
}

func nfproto(family byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, cmpEq([]byte{family})}
}

func l4proto(p L4Proto) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpEq([]byte{byte(p)})}
}

func cmpEq(data []byte) *expr.Cmp {
	return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data}
}
