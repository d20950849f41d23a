package paxos

import (
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
)

// elect ticks until a leader is elected and has committed its no-op.
func (cl *cluster) elect(t *testing.T) *node {
	t.Helper()
	for range 200 {
		cl.tick()
		cl.settle(100000)
		if l := cl.leader(); l != nil && l.core.commit >= l.core.lead.readyAt {
			return l
		}
	}
	cl.fail("no leader elected")
	return nil
}

func TestBasic(t *testing.T) {
	for _, voters := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("voters=%d", voters), func(t *testing.T) {
			cl := newCluster(t, 1, voters, 1)
			l := cl.elect(t)
			var last []byte
			for range 20 {
				d, ok := cl.propose(l)
				if !ok {
					t.Fatal("leader dropped a proposal")
				}
				last = d
			}
			cl.settle(100000)
			if !cl.waitCommitted(last, 10) {
				cl.fail("not committed everywhere")
			}
			// A read at the leader and at a follower.
			for _, n := range []*node{l, cl.nodes[cl.ids[(int(l.id))%len(cl.ids)]]} {
				ctx := fmt.Sprintf("read-%d", n.id)
				cl.pending[ctx] = cl.chk.maxIndex
				n.core.ReadIndex([]byte(ctx))
				cl.settle(100000)
				if _, ok := cl.pending[ctx]; ok && n.core.state == replica.StateLeader {
					cl.fail("read at the leader not answered in one round trip")
				}
				for i := 0; i < 5 && cl.pending[ctx] != 0; i++ {
					cl.tick()
					cl.settle(100000)
				}
				if _, ok := cl.pending[ctx]; ok {
					cl.fail("read at %d never answered", n.id)
				}
			}
			cl.checkConverged()
			t.Logf("commit %d, ballot %v", l.core.commit, l.core.ballot)
		})
	}
}
