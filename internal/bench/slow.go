package bench

import (
	"context"
	"time"

	"github.com/cairnkv/cairn/internal/transport"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
)

// slowNode makes the node at addr (started with --fault-injection) answer
// every request delay late, and returns what puts it back.
func slowNode(ctx context.Context, addr string, delay time.Duration, cfg *Config) (undo func(), err error) {
	cc, err := grpc.NewClient(addr, append(transport.DialOptions(), cfg.dialOptions()...)...)
	if err != nil {
		return nil, err
	}
	fi := cairnv1.NewFaultInjectionClient(cc)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := fi.SetRequestDelay(ctx, &cairnv1.SetRequestDelayRequest{DelayNanos: int64(delay)}); err != nil {
		cc.Close()
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = fi.SetRequestDelay(ctx, &cairnv1.SetRequestDelayRequest{})
		cc.Close()
	}, nil
}
