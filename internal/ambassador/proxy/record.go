package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// idSource makes request ids: a random per-process prefix and a counter.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func (s *idSource) init() {
	var b [6]byte
	rand.Read(b[:])
	s.prefix = hex.EncodeToString(b[:]) + "-"
}

func (s *idSource) next() string {
	var buf [32]byte
	out := append(buf[:0], s.prefix...)
	return string(strconv.AppendUint(out, s.n.Add(1), 10))
}
