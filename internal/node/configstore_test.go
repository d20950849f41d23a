package node

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/testkit"
)

// casOn runs a CompareAndSwap on n's config store and waits for its
// answer. It holds a lock of its own across the call that done must take
// first: a done called from inside the call (the caller's goroutine,
// its lock held) would wait on it, which the test reports.
func casOn(t *testing.T, n *Node, key string, version uint64, value string) (uint64, error) {
	t.Helper()
	sem := make(chan struct{}, 1) // the caller's lock
	sem <- struct{}{}
	type answer struct {
		v   uint64
		err error
	}
	ch := make(chan answer, 1)
	var calls int
	var mu sync.Mutex
	n.configs.CompareAndSwap(key, version, []byte(value), func(v uint64, err error) {
		select {
		case sem <- struct{}{}:
			<-sem
		case <-time.After(5 * time.Second):
			t.Errorf("done of a CAS on %s waited 5s for the caller's lock: called from inside the call", n.Name())
		}
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c != 1 {
			t.Errorf("done of a CAS on %s called %d times", n.Name(), c)
			return
		}
		ch <- answer{v, err}
	})
	<-sem // the call returned: release the caller's lock
	select {
	case a := <-ch:
		return a.v, a.err
	case <-time.After(20 * time.Second):
		t.Fatalf("CAS %s@%d on %s: no answer in 20s", key, version, n.Name())
		return 0, nil
	}
}

func getOn(t *testing.T, n *Node, key string) ([]byte, uint64, error) {
	t.Helper()
	type answer struct {
		v   []byte
		ver uint64
		err error
	}
	ch := make(chan answer, 1)
	n.configs.Get(key, func(v []byte, ver uint64, err error) { ch <- answer{v, ver, err} })
	select {
	case a := <-ch:
		return a.v, a.ver, a.err
	case <-time.After(20 * time.Second):
		t.Fatalf("get %s on %s: no answer in 20s", key, n.Name())
		return nil, 0, nil
	}
}

// watcher records what a watch saw.
type watcher struct {
	mu   sync.Mutex
	seen []string
	last uint64
	bad  string
}

func watch(n *Node, key string) (*watcher, func()) {
	w := &watcher{}
	cancel := n.configs.Watch(key, func(v []byte, ver uint64) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if ver <= w.last {
			w.bad = fmt.Sprintf("version %d after %d", ver, w.last)
		}
		w.last = ver
		w.seen = append(w.seen, fmt.Sprintf("%s@%d", v, ver))
	})
	return w, cancel
}

func (w *watcher) latest() (string, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) == 0 {
		return "", w.bad
	}
	return w.seen[len(w.seen)-1], w.bad
}

// The config store on a real cluster: four nodes, so the meta group is on
// three of them and one node reads and writes it from afar.
func TestConfigStore(t *testing.T) {
	tn := startNodes(t, 4, 2, nil)
	tn.ready()
	var follower, far *Node // a meta follower; the node without a meta replica
	for _, name := range []string{"n1", "n2", "n3", "n4"} {
		n := tn.nodes[name]
		g, ok := n.host.Group(0)
		switch {
		case !ok:
			far = n
		case !g.IsLeader() && follower == nil:
			follower = n
		}
	}
	if follower == nil || far == nil {
		t.Fatal("want a meta follower and a node without a meta replica among four founders")
	}
	const key = "pb/0"

	// A watch started before the key exists, on the far node, and one on
	// the follower.
	wFar, cancelFar := watch(far, key)
	defer cancelFar()
	wNear, cancelNear := watch(follower, key)
	defer cancelNear()

	// Create from a meta follower: forwarded to the meta leader.
	v1, err := casOn(t, follower, key, 0, "a")
	if err != nil || v1 == 0 {
		t.Fatalf("create on meta follower %s: version %d, %v", follower.Name(), v1, err)
	}
	// A second create, from the far node, conflicts with the current
	// version and value.
	_, err = casOn(t, far, key, 0, "b")
	c, ok := replica.IsConfigConflict(err)
	if !ok || c.Version != v1 || string(c.Value) != "a" {
		t.Fatalf("second create on %s: %v, want a conflict at %d holding a", far.Name(), err, v1)
	}
	// An update from the far node on the right version.
	v2, err := casOn(t, far, key, v1, "c")
	if err != nil || v2 <= v1 {
		t.Fatalf("update on %s: version %d, %v; want above %d", far.Name(), v2, err, v1)
	}
	// The loser of a race: the old version.
	if _, err := casOn(t, follower, key, v1, "d"); err == nil {
		t.Fatal("an update on a stale version succeeded")
	} else if c, ok := replica.IsConfigConflict(err); !ok || c.Version != v2 || string(c.Value) != "c" {
		t.Fatalf("stale update: %v, want a conflict at %d holding c", err, v2)
	}

	// Linearizable gets everywhere see the last write.
	for _, n := range tn.nodes {
		v, ver, err := getOn(t, n, key)
		if err != nil || string(v) != "c" || ver != v2 {
			t.Fatalf("get on %s: %q@%d %v; want c@%d", n.Name(), v, ver, err, v2)
		}
	}
	if v, ver, err := getOn(t, far, "pb/absent"); err != nil || v != nil || ver != 0 {
		t.Fatalf("get of an absent key on %s: %q@%d %v", far.Name(), v, ver, err)
	}

	// Both watches reach the last version, in order; a watch started now
	// gets the current value.
	want := fmt.Sprintf("c@%d", v2)
	wLate, cancelLate := watch(tn.nodes["n1"], key)
	defer cancelLate()
	for name, w := range map[string]*watcher{"far": wFar, "near": wNear, "late": wLate} {
		testkit.WaitFor(t, 10*time.Second, name+" watch to see "+want, func() bool {
			got, bad := w.latest()
			if bad != "" {
				t.Fatalf("%s watch: %s", name, bad)
			}
			return got == want
		})
	}

	// Invalid keys are certainly not applied.
	if _, err := casOn(t, far, "", 0, "x"); !errors.Is(err, replica.ErrNotApplied) {
		t.Fatalf("empty key: %v, want not applied", err)
	}
}

// After the node stops, calls answer ErrStopped from another goroutine,
// and a watch ends with the node (goleak checks its poller is gone).
func TestConfigStoreStopped(t *testing.T) {
	tn := startNodes(t, 1, 1, nil)
	tn.ready()
	n := tn.nodes["n1"]
	if _, err := casOn(t, n, "k", 0, "a"); err != nil {
		t.Fatal(err)
	}
	w, _ := watch(n, "k")
	testkit.WaitFor(t, 10*time.Second, "the watch to see the value", func() bool { got, _ := w.latest(); return got != "" })
	tn.stop("n1")
	if _, err := casOn(t, n, "k", 1, "b"); !errors.Is(err, replica.ErrStopped) {
		t.Fatalf("CAS after stop: %v, want ErrStopped", err)
	}
	if _, _, err := getOn(t, n, "k"); !errors.Is(err, replica.ErrStopped) {
		t.Fatalf("get after stop: %v, want ErrStopped", err)
	}
}
