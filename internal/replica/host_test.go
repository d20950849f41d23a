package replica

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/storage"
)

func TestRegistry(t *testing.T) {
	var got HostConfig
	Register(Engine{Name: "test-engine", NewHost: func(cfg HostConfig) (Host, error) { got = cfg; return nil, errors.New("built") }})
	if !slices.Contains(Engines(), "test-engine") {
		t.Fatalf("Engines() = %v, want test-engine in it", Engines())
	}
	if _, err := NewHost("test-engine", HostConfig{Node: "n1"}); err == nil || err.Error() != "built" || got.Node != "n1" {
		t.Fatalf("NewHost did not call the registered constructor with the config: %v, %+v", err, got)
	}
	_, err := NewHost("no-such-engine", HostConfig{})
	if !errors.Is(err, ErrUnknownEngine) || !strings.Contains(err.Error(), "test-engine") {
		t.Fatalf("unknown engine: %v, want ErrUnknownEngine listing the registered ones", err)
	}
	if _, err := ReadLogOf("test-engine"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("ReadLogOf an engine that registered none: %v, want ErrUnsupported", err)
	}
	if _, err := ReadLogOf("no-such-engine"); !errors.Is(err, ErrUnknownEngine) {
		t.Fatalf("ReadLogOf an unknown engine: %v, want ErrUnknownEngine", err)
	}
	Register(Engine{Name: "test-engine-log", ReadLog: func(storage.LogReader, GroupID, uint64) (DurableLog, error) {
		return DurableLog{Commit: 7}, nil
	}})
	if rl, err := ReadLogOf("test-engine-log"); err != nil {
		t.Fatalf("ReadLogOf an engine that registered one: %v", err)
	} else if dl, _ := rl(nil, 1, 0); dl.Commit != 7 {
		t.Fatalf("ReadLogOf returned another function: %+v", dl)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second registration of one name did not panic")
		}
	}()
	Register(Engine{Name: "test-engine"})
}

func TestStateNames(t *testing.T) {
	// These names are API: /v1/cluster's "local.role" and the admin CLI.
	for s, want := range map[State]string{StateFollower: "follower", StateCandidate: "candidate",
		StatePreCandidate: "pre-candidate", StateLeader: "leader", StateLearner: "learner", StateStopped: "stopped"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", s, s.String(), want)
		}
	}
}

func TestMajority(t *testing.T) {
	d := Descriptor{Group: 1, Replicas: []Member{{ID: 1, Node: "a"}, {ID: 2, Node: "b"}, {ID: 3, Node: "c"}, {ID: 4, Node: "d"}},
		Voters: []ReplicaID{1, 2, 3}}
	up := func(nodes ...string) func(string) bool {
		return func(n string) bool { return slices.Contains(nodes, n) }
	}
	if sf := Majority(d, up("a", "b")); sf != nil {
		t.Fatalf("2 of 3 voters live: %+v, want nil", sf)
	}
	sf := Majority(d, up("a", "d"))
	if sf == nil || sf.Live != 1 || sf.Need != 2 || sf.Of != 3 || sf.Which != "" || !slices.Equal(sf.Lost, []string{"b", "c"}) {
		t.Fatalf("1 of 3 voters live: %+v", sf)
	}
	// A joint change needs both configurations.
	d.Engine = JointConf{Outgoing: []ReplicaID{2, 3, 4}}.Section()
	sf = Majority(d, up("a", "b", "c"))
	if sf != nil {
		t.Fatalf("joint, both majorities live: %+v", sf)
	}
	sf = Majority(d, up("a", "b"))
	if sf == nil || sf.Which != "outgoing " || sf.Live != 1 {
		t.Fatalf("joint, outgoing majority lost: %+v", sf)
	}
	if LivenessOf("no-such-engine") == nil {
		t.Fatal("LivenessOf an unknown engine is nil, want Majority")
	}
}
