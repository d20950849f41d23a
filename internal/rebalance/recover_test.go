package rebalance

import (
	"context"
	"slices"
	"testing"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/replica"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestUnsafeRecover: the voter that applied most (then the longest log)
// survives, only when a quorum is gone; a dry run changes nothing.
func TestUnsafeRecover(t *testing.T) {
	setup := func(answer map[string]Recovery) (*fakeNode, *Rebalancer) {
		f := newFakeNode("n1", settings, members("n1", "n2", "n3", "n4", "n5")...)
		f.setDescs([]replica.Descriptor{desc(2, 7, "n1", "n2", "n3", "n4", "n5")}, 0)
		f.mu.recovered = answer
		r, _ := newTest(f)
		return f, r
	}
	ctx := context.Background()
	t.Run("survivor", func(t *testing.T) {
		_, r := setup(map[string]Recovery{"n2": {Applied: 10, LastIndex: 12}, "n4": {Applied: 10, LastIndex: 15, Discarded: 5}})
		out, err := r.UnsafeRecover(ctx, &cairnv1.UnsafeRecoverRequest{Partition: 1})
		if err != nil {
			t.Fatal(err)
		}
		if out.GetSurvivor() != "n4" || out.GetDone() || !slices.Equal(out.GetUnreachable(), []string{"n1", "n3", "n5"}) {
			t.Fatalf("dry run: %v; want survivor n4, not done, n1 n3 n5 unreachable", out)
		}
		out, err = r.UnsafeRecover(ctx, &cairnv1.UnsafeRecoverRequest{Partition: 1, Confirm: true})
		if err != nil {
			t.Fatal(err)
		}
		if out.GetSurvivor() != "n4" || !out.GetDone() || out.GetMembershipVersion() != 99 {
			t.Fatalf("confirmed: %v; want n4 recovered at version 99", out)
		}
	})
	for _, tc := range []struct {
		name      string
		answer    map[string]Recovery
		partition int32
		code      codes.Code
	}{
		{"quorum still there", map[string]Recovery{"n1": {}, "n2": {}, "n3": {}}, 1, codes.FailedPrecondition},
		{"nobody answers", nil, 1, codes.FailedPrecondition},
		{"descriptor unknown", map[string]Recovery{"n1": {}}, 0, codes.Aborted},
		{"out of range", map[string]Recovery{"n1": {}}, int32(settings.Partitions), codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := setup(tc.answer)
			_, err := r.UnsafeRecover(ctx, &cairnv1.UnsafeRecoverRequest{Partition: tc.partition, Confirm: true})
			if status.Code(err) != tc.code {
				t.Fatalf("err %v, want code %v", err, tc.code)
			}
		})
	}
}

// TestRepairGroup: a diverged replica asks its leader to remove it, unless
// that would leave the group without a quorum of live voters.
func TestRepairGroup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		down  string
		calls int
	}{
		{"removal asked", "", 1},
		{"waits while another voter is down", "n3", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := members("n1", "n2", "n3", "n4")
			for i := range ms {
				if ms[i].Name == tc.down {
					ms[i].State = cluster.NodeDown
				}
			}
			f := newFakeNode("n1", settings, ms...)
			d := desc(1, 4, "n1", "n2", "n3")
			f.mu.groups[1] = &fakeGroup{st: replica.Status{Group: 1, Replica: 1, LeaderNode: "n2", Diverged: 40, Descriptor: d}}
			f.mu.groups[2] = &fakeGroup{st: replica.Status{Group: 2, Replica: 1, LeaderNode: "n2", Descriptor: desc(2, 4, "n1", "n2", "n3")}}
			r, _ := newTest(f)
			for _, gid := range f.Groups() {
				r.repairGroup(context.Background(), gid)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.mu.changes) != tc.calls {
				t.Fatalf("ChangeReplicas calls %+v, want %d", f.mu.changes, tc.calls)
			}
			if c := f.mu.changes; tc.calls == 1 && (c[0].node != "n2" || c[0].gid != 1 || c[0].expectedVersion != 4 || !slices.Equal(c[0].voters, []string{"n2", "n3"})) {
				t.Fatalf("ChangeReplicas %+v, want on n2, group 1 at version 4, voters n2 n3", c[0])
			}
		})
	}
}
