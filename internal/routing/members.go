package routing

import (
	"context"
	"fmt"
	"slices"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// MetaGroup is this node's replica of the meta group, as the member list
// is read and changed through it (replica.Group, narrowed).
type MetaGroup interface {
	Status() replica.Status
	// IsLeader is a cheap check (an atomic).
	IsLeader() bool
	Read(ctx context.Context, mode replica.ReadMode, fn func(storage.View) error) error
	Propose(ctx context.Context, cmd []byte) (result []byte, index uint64, err error)
}

// NotMetaLeaderError says this node does not lead the meta group; it is
// cluster.ErrNotMetaLeader (errors.Is).
type NotMetaLeaderError struct{ Leader string }

func (e NotMetaLeaderError) Error() string {
	if e.Leader == "" {
		return "this node does not lead the meta group, and no leader of it is known"
	}
	return fmt.Sprintf("this node does not lead the meta group; %s does", e.Leader)
}

// Is makes the error cluster.ErrNotMetaLeader.
func (e NotMetaLeaderError) Is(target error) bool { return target == cluster.ErrNotMetaLeader }

// metaGroup is the local replica of the meta group, if any.
func (t *Table) metaGroup() (MetaGroup, bool) {
	if t.cfg.MetaGroup == nil {
		return nil, false
	}
	return t.cfg.MetaGroup()
}

// LeadsMeta reports whether this node leads the meta group now.
func (t *Table) LeadsMeta() bool {
	g, ok := t.metaGroup()
	return ok && g.IsLeader()
}

// ReadMeta reads the meta group's records linearizably through this
// node's replica of it; ok is false when it holds none.
func (t *Table) ReadMeta(ctx context.Context) (m cluster.Meta, ok bool, err error) {
	g, ok := t.metaGroup()
	if !ok {
		return cluster.Meta{}, false, nil
	}
	m, err = readMeta(ctx, g)
	return m, true, err
}

func readMeta(ctx context.Context, g MetaGroup) (m cluster.Meta, err error) {
	err = g.Read(ctx, replica.Linearizable, func(v storage.View) error {
		m, err = cluster.ReadMeta(v)
		return err
	})
	return m, err
}

// ChangeMeta makes one membership change on the meta leader (this node):
// it reads the records linearizably, lets change compute the records to
// write from them, and proposes them under the epoch it read
// (cluster.MembershipCommand, a compare-and-swap on the epoch's version);
// a change made meanwhile by someone else makes it read and compute
// again. change returning no members changes nothing. Its error is a
// NotMetaLeaderError when this node does not lead the meta group.
func (t *Table) ChangeMeta(ctx context.Context, change func(cluster.Meta) ([]cluster.Member, error)) (cluster.Meta, error) {
	for {
		g, ok := t.metaGroup()
		if !ok {
			return cluster.Meta{}, NotMetaLeaderError{Leader: t.MetaLeader()}
		}
		if st := g.Status(); st.State != replica.StateLeader {
			return cluster.Meta{}, NotMetaLeaderError{Leader: st.LeaderNode}
		}
		m, err := readMeta(ctx, g)
		if err != nil {
			return cluster.Meta{}, err
		}
		changed, err := change(m)
		if err != nil || len(changed) == 0 {
			return m, err
		}
		cmd, err := cluster.MembershipCommand(m, changed...)
		if err != nil {
			return cluster.Meta{}, err
		}
		res, _, err := g.Propose(ctx, cmd.Encode())
		if err != nil {
			return cluster.Meta{}, err
		}
		rep, err := kv.DecodeResult(res)
		if err != nil {
			return cluster.Meta{}, err
		}
		if err := cluster.MembershipResult(rep); err == cluster.ErrMetaChanged {
			continue
		} else if err != nil {
			return cluster.Meta{}, err
		}
		for _, c := range changed {
			i := slices.IndexFunc(m.Members, func(x cluster.Member) bool { return x.Name == c.Name })
			if i < 0 {
				m.Members = append(m.Members, c)
			} else {
				m.Members[i] = c
			}
		}
		m.Epoch++
		t.RefreshMeta()
		return m, nil
	}
}

// InitMeta seeds the member list before the meta group is heard from: the
// local meta replica's, else the list saved at the last change, else
// founders (for a joined node, the members it was told of).
func (t *Table) InitMeta(founders []cluster.Member) error {
	m, adv, ok, err := t.cfg.Meta.ReadLocal()
	if err != nil {
		return err
	}
	if ok {
		t.LearnMeta(m.Epoch, m.Members, adv, true)
		return nil
	}
	epoch, members, ok, err := t.cfg.Meta.LoadMembers()
	if err != nil {
		return err
	}
	if !ok {
		epoch, members = 0, founders
	}
	t.LearnMeta(epoch, members, nil, true)
	return nil
}

// StoreMeta is the MetaStore of a node: the meta group's records read
// from its store as far as its replica of group 0 has applied (none when
// group reports no initialised replica), and the member list saved in it.
func StoreMeta(store storage.Store, group func() (MetaGroup, bool)) MetaStore {
	return storeMeta{store, group}
}

type storeMeta struct {
	store storage.Store
	group func() (MetaGroup, bool)
}

func (s storeMeta) ReadLocal() (cluster.Meta, map[string]cluster.Advertised, bool, error) {
	g, ok := s.group()
	if !ok || g.Status().Descriptor.Version == 0 {
		return cluster.Meta{}, nil, false, nil
	}
	m, err := cluster.ReadMeta(s.store)
	if err != nil {
		return cluster.Meta{}, nil, false, err
	}
	return m, cluster.ReadAdvertised(s.store, m.Members), true, nil
}

func (s storeMeta) SaveMembers(epoch uint64, members []cluster.Member) error {
	return cluster.SaveMembers(s.store, epoch, members)
}

func (s storeMeta) LoadMembers() (uint64, []cluster.Member, bool, error) {
	return cluster.LoadMembers(s.store)
}
