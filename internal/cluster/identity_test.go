package cluster

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/storage"
)

var three = []Member{{Name: "n1", Addr: "127.0.0.1:7001"}, {Name: "n2", Addr: "127.0.0.1:7002"}, {Name: "n3", Addr: "127.0.0.1:7003"}}

var created = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func newOpts(name string) Options {
	return Options{Name: name, InitialCluster: three, Token: "tok", State: StateNew, Clock: clock.NewFake(created)}
}

// mustOpen opens a new identity in store or fails the test.
func mustOpen(t *testing.T, store storage.Store, opts Options) *Identity {
	t.Helper()
	id, err := Open(store, opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	return id
}

func TestOpenFirstStart(t *testing.T) {
	store := storage.NewMem()
	defer store.Close()
	opts := newOpts("n2")
	opts.InitialCluster = []Member{three[2], three[0], three[1]}
	opts.Settings = Settings{Partitions: 16}
	id := mustOpen(t, store, opts)
	if id.Name != "n2" || id.Incarnation == 0 || !id.Created.Equal(created) || id.Bootstrapped {
		t.Fatalf("identity = %+v", id)
	}
	if want := ClusterID(three, "tok"); id.ClusterID != want {
		t.Fatalf("cluster ID = %s, want %s", id.ClusterID, want)
	}
	if want := (Settings{Partitions: 16}).WithDefaults(3); id.Settings != want {
		t.Fatalf("settings = %+v, want %+v", id.Settings, want)
	}
	if !slices.Equal(id.Founders, three) {
		t.Fatalf("founders = %v, want sorted %v", id.Founders, three)
	}
	for _, k := range [][]byte{storage.IdentityKey, storage.ClusterKey} {
		raw, err := store.Get(k)
		if err != nil {
			t.Fatalf("get %s: %v", k, err)
		}
		if !strings.Contains(string(raw), `"version":1`) {
			t.Fatalf("%s = %s, want a version field", k, raw)
		}
	}
	// The records are synced: a crash keeps them.
	crashed := store.Crash()
	defer crashed.Close()
	again := mustOpen(t, crashed, newOpts("n2"))
	if again.Incarnation != id.Incarnation {
		t.Fatalf("after crash incarnation = %d, want %d", again.Incarnation, id.Incarnation)
	}
}

func TestOpenRestart(t *testing.T) {
	store := storage.NewMem()
	defer store.Close()
	first := mustOpen(t, store, newOpts("n1"))
	for _, tc := range []struct {
		name string
		mod  func(*Options)
	}{
		{name: "same flags", mod: func(*Options) {}},
		{name: "state existing", mod: func(o *Options) { o.State = StateExisting }},
		{name: "initial cluster unset", mod: func(o *Options) {
			o.InitialCluster, o.Token = DefaultInitialCluster("n1", "127.0.0.1:7379"), ""
		}},
		{name: "same initial cluster explicit", mod: func(o *Options) {
			o.Explicit = map[string]bool{FlagInitialCluster: true, FlagInitialClusterToken: true}
		}},
		{name: "unset flags take stored values", mod: func(o *Options) {
			o.Settings = Settings{Partitions: 128, Replicas: 1, Engine: "paxos", VNodes: 7, LoadFactor: 3}
		}},
		{name: "explicit flags equal to stored", mod: func(o *Options) {
			o.Settings = DefaultSettings(3)
			o.Explicit = map[string]bool{FlagPartitions: true, FlagReplicas: true, FlagEngine: true, FlagVNodes: true, FlagLoadFactor: true}
		}},
		{name: "clock moved", mod: func(o *Options) { o.Clock = clock.NewFake(created.Add(time.Hour)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := newOpts("n1")
			tc.mod(&opts)
			id := mustOpen(t, store, opts)
			if id.Incarnation != first.Incarnation || id.ClusterID != first.ClusterID ||
				id.Settings != first.Settings || !id.Created.Equal(first.Created) || !slices.Equal(id.Founders, first.Founders) {
				t.Fatalf("restart gave %+v, want %+v", id, first)
			}
		})
	}
}

func TestOpenRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup bool // create n1's identity first
		mod   func(*Options)
		is    error
		want  []string
	}{
		{name: "wrong name", setup: true, mod: func(o *Options) { o.Name = "n2" },
			is: ErrWrongName, want: []string{`node "n1"`, `--name "n2"`}},
		{name: "explicit partitions differ", setup: true, mod: func(o *Options) {
			o.Settings.Partitions = 128
			o.Explicit = map[string]bool{FlagPartitions: true}
		}, is: ErrSettingsConflict, want: []string{"--partitions 128", "the 64 this cluster was created with"}},
		{name: "explicit engine differs", setup: true, mod: func(o *Options) {
			o.Settings.Engine = "paxos"
			o.Explicit = map[string]bool{FlagEngine: true}
		}, is: ErrSettingsConflict, want: []string{"--engine paxos", "the raft this cluster"}},
		{name: "explicit load factor differs", setup: true, mod: func(o *Options) {
			o.Settings.LoadFactor = 1.5
			o.Explicit = map[string]bool{FlagLoadFactor: true}
		}, is: ErrSettingsConflict, want: []string{"--load-factor 1.5", "the 1.25 this cluster"}},
		{name: "two explicit flags differ", setup: true, mod: func(o *Options) {
			o.Settings.Replicas, o.Settings.VNodes = 1, 64
			o.Explicit = map[string]bool{FlagReplicas: true, FlagVNodes: true}
		}, is: ErrSettingsConflict, want: []string{"--replicas 1", "the 3 this", "--vnodes 64", "the 128 this"}},
		{name: "other token", setup: true, mod: func(o *Options) {
			o.Token = "other"
			o.Explicit = map[string]bool{FlagInitialClusterToken: true}
		}, is: ErrWrongCluster, want: []string{ClusterID(three, "other").String(), ClusterID(three, "tok").String()}},
		{name: "other initial cluster", setup: true, mod: func(o *Options) {
			o.InitialCluster = three[:2]
			o.Explicit = map[string]bool{FlagInitialCluster: true}
		}, is: ErrWrongCluster, want: []string{ClusterID(three[:2], "tok").String(), ClusterID(three, "tok").String()}},
		{name: "existing with empty data dir", mod: func(o *Options) { o.State = StateExisting },
			is: ErrNoData, want: []string{"--initial-cluster-state existing", "--join"}},
		{name: "bad state", mod: func(o *Options) { o.State = "old" }, want: []string{"--initial-cluster-state"}},
		{name: "empty name", mod: func(o *Options) { o.Name = "" }, want: []string{"--name"}},
		{name: "name not in initial cluster", mod: func(o *Options) { o.Name = "n9" },
			is: ErrInitialCluster, want: []string{"--name n9 is not one of its members"}},
		{name: "no initial cluster", mod: func(o *Options) { o.InitialCluster = nil }, is: ErrInitialCluster},
		{name: "duplicate address", mod: func(o *Options) { o.InitialCluster = []Member{three[0], {Name: "n2", Addr: three[0].Addr}} },
			is: ErrInitialCluster, want: []string{"duplicate address"}},
		{name: "replicas above founders", mod: func(o *Options) { o.InitialCluster = three[:1]; o.Settings.Replicas = 3 },
			is: ErrInvalidSettings, want: []string{"--replicas 3"}},
		{name: "pb setting under raft", mod: func(o *Options) { o.Settings.PBMode = "async" },
			is: ErrInvalidSettings, want: []string{"--pb-mode applies only to --engine primary-backup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := storage.NewMem()
			defer store.Close()
			if tc.setup {
				mustOpen(t, store, newOpts("n1"))
			}
			opts := newOpts("n1")
			tc.mod(&opts)
			id, err := Open(store, opts)
			if err == nil {
				t.Fatalf("Open succeeded: %+v", id)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !tc.setup {
				if _, err := store.Get(storage.IdentityKey); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("a refused first start wrote an identity (%v)", err)
				}
			}
		})
	}
}

func TestOpenDamaged(t *testing.T) {
	for _, tc := range []struct {
		name string
		kvs  map[string]string
	}{
		{name: "foreign data", kvs: map[string]string{"/u/x": "y"}},
		{name: "identity without cluster", kvs: map[string]string{string(storage.IdentityKey): `{"version":1,"name":"n1","incarnation":"5"}`}},
		{name: "cluster without identity", kvs: map[string]string{string(storage.ClusterKey): `{}`}},
		{name: "garbage", kvs: map[string]string{string(storage.IdentityKey): "{", string(storage.ClusterKey): "{"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := storage.NewMem()
			defer store.Close()
			b := store.NewBatch()
			for k, v := range tc.kvs {
				if err := b.Set([]byte(k), []byte(v)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Commit(true); err != nil {
				t.Fatal(err)
			}
			b.Close()
			if _, err := Open(store, newOpts("n1")); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestOpenIncarnationPerDataDir(t *testing.T) {
	a, b := storage.NewMem(), storage.NewMem()
	defer a.Close()
	defer b.Close()
	ia, ib := mustOpen(t, a, newOpts("n1")), mustOpen(t, b, newOpts("n1"))
	if ia.Incarnation == ib.Incarnation {
		t.Fatalf("a wiped node got the same incarnation %d", ia.Incarnation)
	}
	if ia.ClusterID != ib.ClusterID {
		t.Fatalf("same flags gave cluster IDs %s and %s", ia.ClusterID, ib.ClusterID)
	}
}

func TestMarkBootstrapped(t *testing.T) {
	store := storage.NewMem()
	defer store.Close()
	first := mustOpen(t, store, newOpts("n1"))
	if first.Bootstrapped {
		t.Fatal("a new identity says bootstrapped")
	}
	for range 2 { // idempotent
		if err := MarkBootstrapped(store); err != nil {
			t.Fatal(err)
		}
	}
	crashed := store.Crash()
	defer crashed.Close()
	id := mustOpen(t, crashed, newOpts("n1"))
	if !id.Bootstrapped || id.ClusterID != first.ClusterID || id.Incarnation != first.Incarnation {
		t.Fatalf("after MarkBootstrapped and a crash: %+v", id)
	}
}
