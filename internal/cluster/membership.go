package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/storage"
)

// MetaKeyEpoch is the meta group's placement epoch: a decimal counter that
// every membership change bumps in the same command that changes the
// member records, so a change made on a stale reading fails (and is made
// again on a fresh one) instead of overwriting another.
const MetaKeyEpoch = "cluster/epoch"

// ErrMetaChanged: the member records changed between the reading a
// membership change was computed from and its proposal.
var ErrMetaChanged = errors.New("cluster: the member list changed meanwhile")

// ErrNotMetaLeader: a change of the member list asked of a node that does
// not lead the meta group (only its leader makes one); the caller retries
// on the leader.
var ErrNotMetaLeader = errors.New("cluster: this node does not lead the meta group")

// MembershipCommand is the command that writes the changed member records
// (whole records, state included) and bumps the epoch, all or nothing and
// only if the epoch is still the one m was read at.
func MembershipCommand(m Meta, changed ...Member) (kv.Command, error) {
	reqs := []kv.Request{kv.Put([]byte(MetaKeyEpoch), []byte(strconv.FormatUint(m.Epoch+1, 10))).IfVersion(m.EpochVersion)}
	for _, mem := range changed {
		v, err := json.Marshal(memberRecord{Version: metaRecordVersion, Member: mem})
		if err != nil {
			return kv.Command{}, err
		}
		reqs = append(reqs, kv.Put([]byte(MetaKeyMemberPrefix+mem.Name), v))
	}
	cmd := kv.NewCommand(reqs...)
	cmd.AllOrNothing = true
	return cmd, nil
}

// MembershipResult interprets the reply to a MembershipCommand:
// ErrMetaChanged when the epoch had moved.
func MembershipResult(rep kv.Reply) error {
	if len(rep.Responses) > 0 && rep.Responses[0].Code == kv.CodeConditionFailed {
		return ErrMetaChanged
	}
	if rep.Code != kv.CodeOK {
		return fmt.Errorf("cluster: membership change: %s", rep.Code)
	}
	for _, r := range rep.Responses {
		if r.Code != kv.CodeOK {
			return fmt.Errorf("cluster: membership change: %s", r.Code)
		}
	}
	return nil
}

// Member returns the member named name.
func (m Meta) Member(name string) (Member, bool) {
	for _, mem := range m.Members {
		if mem.Name == name {
			return mem, true
		}
	}
	return Member{}, false
}

// MembersKey is where a node keeps, unreplicated, the newest member list it
// has seen, so that after a restart it can reach nodes that joined after
// it was created before it hears from the meta group again.
var MembersKey = []byte("/n/members")

type membersRecord struct {
	Version int      `json:"version"`
	Epoch   uint64   `json:"epoch"`
	Members []Member `json:"members"`
}

// SaveMembers writes MembersKey (unsynced: losing it costs only a poll).
func SaveMembers(store storage.Store, epoch uint64, members []Member) error {
	v, err := json.Marshal(membersRecord{Version: recordVersion, Epoch: epoch, Members: members})
	if err != nil {
		return err
	}
	b := store.NewBatch()
	defer b.Close()
	if err := b.Set(MembersKey, v); err != nil {
		return err
	}
	return b.Commit(false)
}

// LoadMembers reads what SaveMembers wrote; ok is false when nothing was.
func LoadMembers(store storage.Store) (epoch uint64, members []Member, ok bool, err error) {
	raw, err := store.Get(MembersKey)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	var r membersRecord
	if err := strictUnmarshal(raw, &r); err != nil || r.Version != recordVersion {
		return 0, nil, false, fmt.Errorf("%w: %s: %v", ErrCorrupt, MembersKey, err)
	}
	return r.Epoch, r.Members, true, nil
}
