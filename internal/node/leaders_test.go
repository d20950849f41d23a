package node

import (
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/testkit"
)

// Leadership moves to each partition's preferred replica (the first of its
// placement) once that replica is healthy, and stays there.
func TestLeadersMoveToPreferredReplicas(t *testing.T) {
	tn := startNodes(t, 3, 8, func(c *Config) { c.LeaderBalanceInterval = 100 * time.Millisecond })
	tn.ready()
	n1 := tn.nodes["n1"]
	atPreferred := func() (bool, map[string]int) {
		leads := map[string]int{}
		for p := range n1.Partitions() {
			gid := replica.GroupOf(p)
			g, ok := n1.host.Group(gid)
			if !ok {
				return false, nil
			}
			st := g.Status()
			leads[st.LeaderNode]++
			if st.LeaderNode != n1.preferredNode(gid) {
				return false, leads
			}
		}
		return true, leads
	}
	testkit.WaitFor(t, 30*time.Second, "every partition led by its preferred node", func() bool { ok, _ := atPreferred(); return ok })
	// Stable: nothing moves once every leader is where it belongs.
	time.Sleep(500 * time.Millisecond)
	if ok, leads := atPreferred(); !ok {
		t.Fatalf("leadership moved away from the preferred nodes: %v", leads)
	}
	_, leads := atPreferred()
	t.Logf("partition leaders per node: %v", leads)
}
