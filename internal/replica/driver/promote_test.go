package driver

import (
	"errors"
	"testing"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// campaignCore counts Campaign calls and refuses the second.
type campaignCore struct {
	stubCore
	n *int
}

func (c campaignCore) Campaign() error {
	*c.n++
	if *c.n > 1 {
		return errors.New("the primary already")
	}
	return nil
}

type campaignEngine struct {
	stubEngine
	n *int
}

func (e campaignEngine) NewCore(CoreConfig) (Core, error) { return campaignCore{n: e.n}, nil }

// PromoteUnsafe hands the local replica's core a Campaign and returns its
// refusal; a group the node does not host is an error.
func TestPromoteUnsafeCallsCampaign(t *testing.T) {
	var n int
	h, err := NewHost(Config{Node: "a", Store: storage.NewMem(), Manual: true, Logger: quietLogger(),
		Engine:          campaignEngine{n: &n},
		NewStateMachine: func(g replica.GroupID) replica.StateMachine { return kv.New(uint64(g)) },
		Fatal:           func(err error) { t.Errorf("fatal: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	desc := replica.Descriptor{Group: 1, Version: 1, NextReplicaID: 2,
		Replicas: []replica.Member{{ID: 1, Node: "a"}}, Voters: []replica.ReplicaID{1}}
	if err := h.Bootstrap(desc, func(storage.Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := h.PromoteUnsafe(1); err != nil || n != 1 {
		t.Fatalf("first promotion: err %v, %d campaigns", err, n)
	}
	if err := h.PromoteUnsafe(1); err == nil || n != 2 {
		t.Fatalf("second promotion: want the core's refusal, got err %v after %d campaigns", err, n)
	}
	if err := h.PromoteUnsafe(7); err == nil {
		t.Fatal("a group the node does not host: want an error")
	}
}
