package runner

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	"github.com/cairnkv/cairn/internal/chaos"
)

// classify maps what a gRPC call returned to the history's outcome, by
// DESIGN.md's outcome table:
//
//   - no error: OK;
//   - FAILED_PRECONDITION with reason CONDITION_FAILED: OK as well, with
//     conditionFailed set — the store answered, it just did not write (a
//     CAS that did not swap);
//   - UNAVAILABLE with reason NOT_APPLIED, or INVALID_ARGUMENT: Failed,
//     certainly not applied;
//   - anything else — DEADLINE_EXCEEDED (INDETERMINATE or the client's own
//     deadline), a bare UNAVAILABLE (a broken connection or stream),
//     CANCELED, a session error, NOSPACE, an error that is not a status:
//     Indeterminate.
//
// NB: only the two answers the design names as "certainly not applied" are
// Failed. Calling something Failed that might have applied would let a
// checker drop a write that happened and report a false anomaly; calling
// Indeterminate something that did not apply only costs checking time.
func classify(err error) (outcome chaos.Outcome, conditionFailed bool) {
	if err == nil {
		return chaos.OK, false
	}
	if _, ok := grpcapi.NotApplied(err); ok {
		return chaos.Failed, false
	}
	st, ok := status.FromError(err)
	if !ok {
		return chaos.Indeterminate, false
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return chaos.Failed, false
	case codes.FailedPrecondition:
		if ei := grpcapi.Info(err); ei != nil && ei.Reason == grpcapi.ReasonConditionFailed {
			return chaos.OK, true
		}
	}
	return chaos.Indeterminate, false
}
