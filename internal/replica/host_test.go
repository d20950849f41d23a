package replica

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	var got HostConfig
	Register("test-engine", func(cfg HostConfig) (Host, error) { got = cfg; return nil, errors.New("built") })
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
	defer func() {
		if recover() == nil {
			t.Fatal("a second registration of one name did not panic")
		}
	}()
	Register("test-engine", nil)
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
