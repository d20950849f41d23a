package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/storage"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// joinConn answers Admin.Join: errs first, one a call, then resp.
type joinConn struct {
	mu    sync.Mutex
	errs  []error
	resp  *cairnv1.JoinResponse
	calls int
}

func (c *joinConn) Invoke(_ context.Context, method string, _, reply any, _ ...grpc.CallOption) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if method != cairnv1.Admin_Join_FullMethodName {
		return status.Errorf(codes.Unimplemented, "%s", method)
	}
	if len(c.errs) > 0 {
		err := c.errs[0]
		c.errs = c.errs[1:]
		return err
	}
	proto.Merge(reply.(proto.Message), c.resp)
	return nil
}

func (c *joinConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "no streams")
}

// JoinVia retries a cluster that is not answering yet, by its clock, and
// makes the identity from the answer: the cluster's ID and settings, its
// members but the removed ones.
func TestJoinVia(t *testing.T) {
	id := ID{7, 7, 7}
	s := DefaultSettings(2)
	conn := &joinConn{
		errs: []error{status.Error(codes.Unavailable, "no leader yet")},
		resp: &cairnv1.JoinResponse{ClusterId: id.String(), Settings: SettingsProto(s), Members: []*cairnv1.MemberInfo{
			{Name: "n1", GrpcAddr: "n1:1"}, {Name: "gone", GrpcAddr: "gone:1", State: NodeRemoved}, {Name: "n4", GrpcAddr: "n4:1"}}},
	}
	clk := clock.NewFake(time.Unix(1e9, 0))
	done := make(chan struct{})
	go func() { // the retry waits a second by clk
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				clk.Advance(100 * time.Millisecond)
			}
		}
	}()
	store := storage.NewMem()
	ident, err := JoinVia(store, conn, "n1:1", &cairnv1.JoinRequest{Name: "n4", GrpcAddr: "n4:1"}, nil, clk, slog.Default())
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	if conn.calls != 2 || ident.ClusterID != id || ident.Name != "n4" || !ident.Joined || ident.Settings.Partitions != s.Partitions {
		t.Fatalf("after %d calls: %+v", conn.calls, ident)
	}
	if len(ident.Founders) != 2 {
		t.Fatalf("members %v, want n1 and n4 (the removed one left out)", ident.Founders)
	}

	// A refusal is not retried and says what the cluster said.
	conn = &joinConn{errs: []error{status.Error(codes.AlreadyExists, "a node named n4 is already a member")}}
	_, err = JoinVia(storage.NewMem(), conn, "n1:1", &cairnv1.JoinRequest{Name: "n4"}, nil, clk, slog.Default())
	if err == nil || !strings.Contains(err.Error(), "already a member") || conn.calls != 1 {
		t.Fatalf("refused join: %v after %d calls", err, conn.calls)
	}
}
