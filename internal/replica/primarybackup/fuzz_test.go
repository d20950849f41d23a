package primarybackup

import (
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/replica/driver"
)

// FuzzStep: whatever bytes reach a core — from its primary, a backup or
// itself — Step returns an error or takes them, and the rounds after it
// run without a panic or a safety violation.
func FuzzStep(f *testing.F) {
	f.Add(encodeMessage(&message{Type: msgAppend, Epoch: 2, From: 1, To: 2, Prev: point{Index: 11}, Commit: 99,
		Entries: []wireEntry{{Epoch: 2, Hash: 1, Data: []byte("x")}}}), uint8(0))
	f.Add(encodeMessage(&message{Type: msgAppendResp, Epoch: 1, Term: 1, From: 2, To: 1, Index: 1 << 40}), uint8(1))
	f.Add(encodeMessage(&message{Type: msgAppendResp, Epoch: 1, Term: 1, From: 2, To: 1, Reject: true, Index: 12, Last: point{Index: 1 << 50, Epoch: 9}}), uint8(1))
	f.Add(encodeMessage(&message{Type: msgSnapshot, Epoch: 3, From: 1, To: 2, Index: 500, Term: 3}), uint8(0))
	f.Add(encodeMessage(&message{Type: msgStore, Op: 1, Result: storeConflict, Version: 9, Value: []byte{1}}), uint8(2))
	f.Add(encodeMessage(&message{Type: msgTakeOver, Epoch: 1, From: 1, To: 2, Version: 9,
		Record: Record{Epoch: 2, Primary: 2, Replicas: []replica.ReplicaID{1, 2, 3}, InSync: []replica.ReplicaID{2}}}), uint8(0))
	f.Fuzz(func(t *testing.T, msg []byte, who uint8) {
		cl := newCluster(t, 1, 3, Options{})
		cl.settle(1000)
		p := cl.primary()
		if p == nil {
			t.Fatal("no primary")
		}
		data := driver.Frame(1, []byte("a"))
		if err := p.core.Propose(data); err != nil {
			t.Fatal(err)
		}
		cl.settle(1000)
		// who: 0 the primary to a backup, 1 a backup to the primary, 2 a
		// core to itself (as a store answer comes).
		from, to := replica.ReplicaID(1), replica.ReplicaID(2)
		switch who % 3 {
		case 1:
			from, to = 2, 1
		case 2:
			from, to = 2, 2
		}
		_ = cl.nodes[to].core.Step(from, msg)
		for range 3 {
			cl.tick()
			cl.settle(1000)
		}
	})
}
