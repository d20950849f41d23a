package runner

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/chaos"
)

// withReason is a status with a cairn ErrorInfo, as the gRPC door makes it.
func withReason(c codes.Code, reason string) error {
	st, err := status.New(c, "msg").WithDetails(&errdetails.ErrorInfo{Domain: grpcapi.Domain, Reason: reason})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		want      chaos.Outcome
		condition bool
	}{
		{"ok", nil, chaos.OK, false},
		{"not applied", withReason(codes.Unavailable, grpcapi.ReasonNotApplied), chaos.Failed, false},
		{"invalid argument", withReason(codes.InvalidArgument, grpcapi.ReasonInvalid), chaos.Failed, false},
		{"invalid argument without detail", status.Error(codes.InvalidArgument, "bad"), chaos.Failed, false},
		{"condition failed", withReason(codes.FailedPrecondition, grpcapi.ReasonConditionFailed), chaos.OK, true},
		{"indeterminate", withReason(codes.DeadlineExceeded, grpcapi.ReasonIndeterminate), chaos.Indeterminate, false},
		{"bare unavailable: a broken connection", status.Error(codes.Unavailable, "connection refused"), chaos.Indeterminate, false},
		{"unavailable with another reason", withReason(codes.Unavailable, "SOMETHING_ELSE"), chaos.Indeterminate, false},
		{"client deadline", status.FromContextError(context.DeadlineExceeded).Err(), chaos.Indeterminate, false},
		{"canceled", status.FromContextError(context.Canceled).Err(), chaos.Indeterminate, false},
		{"session expired", withReason(codes.FailedPrecondition, grpcapi.ReasonSessionExpired), chaos.Indeterminate, false},
		{"sequence below window", withReason(codes.FailedPrecondition, grpcapi.ReasonSequenceBelowWindow), chaos.Indeterminate, false},
		{"no space", withReason(codes.ResourceExhausted, grpcapi.ReasonNoSpace), chaos.Indeterminate, false},
		{"internal", status.Error(codes.Internal, "boom"), chaos.Indeterminate, false},
		{"not a status", errors.New("stream broke"), chaos.Indeterminate, false},
		{"wrapped not applied", fmt.Errorf("ctx: %w", withReason(codes.Unavailable, grpcapi.ReasonNotApplied)), chaos.Failed, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, cond := classify(c.err)
			if got != c.want || cond != c.condition {
				t.Errorf("classify(%v) = %s, condition failed %v; want %s, %v", c.err, got, cond, c.want, c.condition)
			}
		})
	}
}
