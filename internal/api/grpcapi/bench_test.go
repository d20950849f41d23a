package grpcapi

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/cairnkv/cairn/internal/api/apitest"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// BenchmarkUnaryPut is one Put call per operation, from parallel callers
// over one connection.
func BenchmarkUnaryPut(b *testing.B) {
	c := serve(b, apitest.New(8), nil)
	ctx := context.Background()
	val := make([]byte, 100)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb_ *testing.PB) {
		for pb_.Next() {
			k := []byte("k" + strconv.FormatInt(n.Add(1)%1024, 10))
			if _, err := c.Put(ctx, &pb.PutRequest{Key: k, Value: val}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBatchPut is the same work multiplexed over one Batch stream by a
// BatchClient (with its own session).
func BenchmarkBatchPut(b *testing.B) {
	c := serve(b, apitest.New(8), nil)
	ctx := context.Background()
	bc, err := c.Batch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer bc.Close()
	val := make([]byte, 100)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb_ *testing.PB) {
		for pb_.Next() {
			k := []byte("k" + strconv.FormatInt(n.Add(1)%1024, 10))
			if _, err := bc.Put(ctx, &pb.PutRequest{Key: k, Value: val}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
