package cluster

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

func members(n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Name: fmt.Sprintf("n%d", i+1), Addr: fmt.Sprintf("127.0.0.1:%d", 7001+i)}
	}
	return ms
}

func TestMetaReplicas(t *testing.T) {
	for n, want := range []int{0, 1, 1, 3, 3, 5, 5, 5, 5} {
		if got := MetaReplicas(n); got != want {
			t.Errorf("MetaReplicas(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestFoundingDescriptors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n, r, p int
		meta    []string
	}{
		{name: "N=1 R=1", n: 1, r: 1, p: 4, meta: []string{"n1"}},
		{name: "N=3 R=3", n: 3, r: 3, p: 64, meta: []string{"n1", "n2", "n3"}},
		{name: "N=5 R=3", n: 5, r: 3, p: 10, meta: []string{"n1", "n2", "n3", "n4", "n5"}},
		{name: "N=4 R=2", n: 4, r: 2, p: 5, meta: []string{"n1", "n2", "n3"}},
		{name: "N=7 R=3", n: 7, r: 3, p: 64, meta: []string{"n1", "n2", "n3", "n4", "n5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := members(tc.n)
			s := Settings{Partitions: tc.p, Replicas: tc.r}
			descs := FoundingDescriptors(ms, s)
			if len(descs) != tc.p+1 {
				t.Fatalf("%d descriptors, want %d", len(descs), tc.p+1)
			}
			pl, err := Placement(ms, s)
			if err != nil {
				t.Fatal(err)
			}
			check := func(d replica.Descriptor, g replica.GroupID, nodes []string) {
				t.Helper()
				if d.Group != g || d.Version != 1 || d.NextReplicaID != replica.ReplicaID(len(nodes)+1) ||
					len(d.Learners) != 0 || d.Engine != nil {
					t.Fatalf("group %d: descriptor %+v", g, d)
				}
				var got []string
				for i, m := range d.Replicas {
					if m.ID != replica.ReplicaID(i+1) || m.Role != replica.RoleVoter || d.Voters[i] != m.ID {
						t.Fatalf("group %d: replica %d = %+v, voters %v", g, i, m, d.Voters)
					}
					got = append(got, m.Node)
				}
				if !slices.Equal(got, nodes) || len(d.Voters) != len(nodes) {
					t.Fatalf("group %d on %v, want %v", g, got, nodes)
				}
				back, err := replica.DecodeDescriptor(d.Encode(nil))
				if err != nil || !reflect.DeepEqual(back, d) {
					t.Fatalf("group %d: descriptor round trip: %+v, %v", g, back, err)
				}
			}
			check(descs[0], 0, tc.meta)
			// Every partition where the ring puts it, R distinct founders,
			// no founder above its bounded-loads cap.
			load := map[string]int{}
			for p := range tc.p {
				nodes := pl.Replicas(p)
				check(descs[p+1], replica.GroupOf(p), nodes)
				if len(nodes) != tc.r || len(slices.Compact(slices.Sorted(slices.Values(nodes)))) != tc.r {
					t.Fatalf("partition %d on %v: want %d distinct nodes", p, nodes, tc.r)
				}
				for _, node := range nodes {
					load[node]++
				}
			}
			for _, nl := range pl.Nodes() {
				if load[nl.Name] > nl.Cap {
					t.Errorf("%s carries %d replicas, above its cap %d", nl.Name, load[nl.Name], nl.Cap)
				}
			}
		})
	}
}

func TestFoundingDescriptorsIdentical(t *testing.T) {
	ms := members(5)
	s := Settings{Partitions: 32}
	want := encodeAll(FoundingDescriptors(ms, s))
	for _, tc := range []struct {
		name    string
		members []Member
		s       Settings
	}{
		{name: "again", members: ms, s: s},
		{name: "reversed members", members: []Member{ms[4], ms[3], ms[2], ms[1], ms[0]}, s: s},
		{name: "defaults spelled out", members: ms, s: DefaultSettings(5).withPartitions(32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := encodeAll(FoundingDescriptors(tc.members, tc.s)); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatal("descriptors differ")
			}
		})
	}
}

func (s Settings) withPartitions(p int) Settings { s.Partitions = p; return s }

func encodeAll(descs []replica.Descriptor) [][]byte {
	out := make([][]byte, len(descs))
	for i := range descs {
		out[i] = descs[i].Encode(nil)
	}
	return out
}

func TestFoundingDescriptorsPanicsOnInvalid(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("R above N did not panic")
		}
	}()
	FoundingDescriptors(members(2), Settings{Replicas: 3})
}

// dump returns every key and value of store in order.
func dump(t *testing.T, store storage.Store) [][2]string {
	t.Helper()
	it, err := store.NewIter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var kvs [][2]string
	for ok := it.First(); ok; ok = it.Next() {
		kvs = append(kvs, [2]string{string(it.Key()), string(it.Value())})
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return kvs
}

func seed(t *testing.T, store storage.Store, id ID, ms []Member, s Settings) {
	t.Helper()
	b := store.NewBatch()
	defer b.Close()
	if err := MetaSeed(id, ms, s)(b); err != nil {
		t.Fatalf("MetaSeed: %v", err)
	}
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
}

func TestMetaSeed(t *testing.T) {
	ms := members(3)
	id := ClusterID(ms, "tok")
	s := Settings{Partitions: 16}

	mem := storage.NewMem()
	defer mem.Close()
	seed(t, mem, id, ms, s)
	peb := openPebble(t, t.TempDir())
	defer peb.Close()
	seed(t, peb, id, []Member{ms[2], ms[0], ms[1]}, s.WithDefaults(3))

	a, b := dump(t, mem), dump(t, peb)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("founders wrote different bytes:\n%q\n%q", a, b)
	}
	if len(a) == 0 {
		t.Fatal("MetaSeed wrote nothing")
	}
	lo, hi := storage.ReplicatedSpan(0)
	for _, kv := range a {
		if kv[0] < string(lo) || kv[0] >= string(hi) {
			t.Errorf("MetaSeed wrote %q outside group 0's replicated span", kv[0])
		}
	}

	for name, store := range map[string]storage.Store{"mem": mem, "pebble": peb} {
		t.Run("ReadMeta "+name, func(t *testing.T) {
			m, err := ReadMeta(store)
			if err != nil {
				t.Fatal(err)
			}
			want := Meta{ClusterID: id, Settings: s.WithDefaults(3), Members: ms}
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("ReadMeta = %+v, want %+v", m, want)
			}
		})
	}
}

func TestMetaSeedRefusesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []Member
		s    Settings
	}{
		{name: "no members", s: Settings{Replicas: 1}},
		{name: "replicas above founders", ms: members(1), s: Settings{Replicas: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := storage.NewMem()
			defer store.Close()
			b := store.NewBatch()
			defer b.Close()
			if err := MetaSeed(ID{1}, tc.ms, tc.s)(b); err == nil {
				t.Fatal("MetaSeed succeeded")
			}
		})
	}
}

func TestReadMetaEmpty(t *testing.T) {
	store := storage.NewMem()
	defer store.Close()
	if _, err := ReadMeta(store); err == nil {
		t.Fatal("ReadMeta of an empty store succeeded")
	}
}
