package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/cairnkv/cairn/internal/api/grpcapi"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// The member list itself is internal/routing's (MetaView); the node reads
// it from the local meta replica for routing (localMeta) and changes it on
// the meta leader (changeMeta).

// localMeta is the node's store as routing's MetaStore.
type localMeta struct{ n *Node }

func (m localMeta) ReadLocal() (cluster.Meta, map[string]cluster.Advertised, bool, error) {
	return m.n.readLocalMeta()
}

func (m localMeta) SaveMembers(epoch uint64, members []cluster.Member) error {
	return cluster.SaveMembers(m.n.store, epoch, members)
}

// readLocalMeta reads the meta group's records from this node's replica
// of it, as far as it has applied; ok is false when it holds none.
func (n *Node) readLocalMeta() (cluster.Meta, map[string]cluster.Advertised, bool, error) {
	g, ok := n.host.Group(0)
	if !ok || g.Status().Descriptor.Version == 0 {
		return cluster.Meta{}, nil, false, nil
	}
	m, err := cluster.ReadMeta(n.store)
	if err != nil {
		return cluster.Meta{}, nil, false, err
	}
	return m, n.readAdvertised(m.Members), true, nil
}

func (n *Node) readAdvertised(members []cluster.Member) map[string]cluster.Advertised {
	adv := map[string]cluster.Advertised{}
	for _, m := range members {
		if it, ok, err := kv.Get(n.store, 0, cluster.AdvertiseKey(m.Name)); err == nil && ok {
			if a, err := cluster.DecodeAdvertised(it.Value); err == nil {
				adv[m.Name] = a
			}
		}
	}
	return adv
}

// errNotMetaLeader says this node does not lead the meta group.
type errNotMetaLeader struct{ leader string }

func (e errNotMetaLeader) Error() string {
	if e.leader == "" {
		return "this node does not lead the meta group, and no leader of it is known"
	}
	return fmt.Sprintf("this node does not lead the meta group; %s does", e.leader)
}

// Is makes the error grpcapi.ErrNotMetaLeader for the Admin service.
func (e errNotMetaLeader) Is(target error) bool { return target == grpcapi.ErrNotMetaLeader }

// changeMeta makes one membership change on the meta leader (this node):
// it reads the records linearizably, lets change compute the records to
// write from them, and proposes them under the epoch it read; a change
// made meanwhile by someone else makes it read and compute again.
// change returning no members changes nothing.
func (n *Node) changeMeta(ctx context.Context, change func(cluster.Meta) ([]cluster.Member, error)) (cluster.Meta, error) {
	for {
		g, ok := n.host.Group(0)
		if !ok {
			return cluster.Meta{}, errNotMetaLeader{leader: n.metaLeader()}
		}
		if st := g.Status(); st.State != replica.StateLeader {
			return cluster.Meta{}, errNotMetaLeader{leader: st.LeaderNode}
		}
		var m cluster.Meta
		err := g.Read(ctx, replica.Linearizable, func(v storage.View) error {
			var err error
			m, err = cluster.ReadMeta(v)
			return err
		})
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
		n.refreshMeta()
		return m, nil
	}
}

// leadsMeta reports whether this node leads the meta group.
func (n *Node) leadsMeta() bool {
	g, ok := n.host.Group(0)
	return ok && g.IsLeader()
}
