package grpcapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

// Domain is the ErrorInfo domain of every error this package makes.
const Domain = "cairn"

// ErrorInfo reasons (google.rpc.ErrorInfo.reason) a client branches on.
const (
	// ReasonNotApplied: UNAVAILABLE, certainly not applied; retry is safe.
	// Metadata "leader" names the leader's node when known.
	ReasonNotApplied = "NOT_APPLIED"
	// ReasonIndeterminate: DEADLINE_EXCEEDED, outcome unknown.
	ReasonIndeterminate = "INDETERMINATE"
	// ReasonConditionFailed: FAILED_PRECONDITION; metadata "version" is the
	// key's current version ("0": absent).
	ReasonConditionFailed = "CONDITION_FAILED"
	// ReasonNotInteger: FAILED_PRECONDITION; Incr on a value that is not a
	// base-10 int64.
	ReasonNotInteger = "NOT_INTEGER"
	// ReasonOverflow: OUT_OF_RANGE; Incr would overflow int64.
	ReasonOverflow = "OVERFLOW"
	// ReasonSessionExpired: FAILED_PRECONDITION; start a new session (a new
	// client ID). Nothing applied.
	ReasonSessionExpired = "SESSION_EXPIRED"
	// ReasonSequenceBelowWindow: FAILED_PRECONDITION; the seq's result is
	// forgotten. Nothing applied now.
	ReasonSequenceBelowWindow = "SEQUENCE_BELOW_WINDOW"
	// ReasonInvalid: INVALID_ARGUMENT; metadata "limit" names the flag
	// (--max-key-size, --max-value-size) when a limit was exceeded.
	ReasonInvalid = "INVALID"
	// ReasonNoSpace: RESOURCE_EXHAUSTED; the node is below --min-free-disk.
	ReasonNoSpace = "NOSPACE"
)

// newStatus makes a status with one ErrorInfo.
func newStatus(c codes.Code, msg, reason string, md map[string]string) *status.Status {
	st := status.New(c, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: Domain, Metadata: md}); err == nil {
		return d
	}
	return st
}

// backendStatus maps an error from the Backend to DESIGN.md's table.
func backendStatus(err error) *status.Status {
	switch api.OutcomeOf(err) {
	case api.NotApplied:
		var md map[string]string
		var nl *replica.ErrNotLeader
		if errors.As(err, &nl) && nl.HintNode != "" {
			md = map[string]string{"leader": nl.HintNode}
		}
		return newStatus(codes.Unavailable, "not applied, retry is safe: "+err.Error(), ReasonNotApplied, md)
	case api.Invalid:
		return invalidStatus(err)
	case api.NoSpace:
		return newStatus(codes.ResourceExhausted, "NOSPACE "+err.Error(), ReasonNoSpace, nil)
	}
	return newStatus(codes.DeadlineExceeded, "indeterminate: outcome unknown: "+err.Error(), ReasonIndeterminate, nil)
}

// invalidStatus is INVALID_ARGUMENT for err, with the limit it names.
func invalidStatus(err error) *status.Status {
	var md map[string]string
	if errors.Is(err, api.ErrTooLarge) {
		for _, l := range [...]string{"--max-key-size", "--max-value-size"} {
			if strings.Contains(err.Error(), l) {
				md = map[string]string{"limit": l}
			}
		}
	}
	return newStatus(codes.InvalidArgument, err.Error(), ReasonInvalid, md)
}

// invalidf is INVALID_ARGUMENT for a malformed request.
func invalidf(format string, args ...any) *status.Status {
	return invalidStatus(fmt.Errorf("%w: "+format, append([]any{api.ErrInvalid}, args...)...))
}

// codeStatus maps a failed kv code (command or request level) to a status;
// r is the request's response when there is one (for the current version).
func codeStatus(c kv.Code, r *kv.Response) *status.Status {
	switch c {
	case kv.CodeConditionFailed, kv.CodeNotInteger:
		var v uint64
		if r != nil {
			v = r.Version
		}
		reason, what := ReasonConditionFailed, "condition failed"
		if c == kv.CodeNotInteger {
			reason, what = ReasonNotInteger, "value is not an integer or out of range"
		}
		msg := what + ": key is absent"
		if v != 0 {
			msg = what + ": key's current version is " + strconv.FormatUint(v, 10)
		}
		return newStatus(codes.FailedPrecondition, msg, reason, map[string]string{"version": strconv.FormatUint(v, 10)})
	case kv.CodeOverflow:
		return newStatus(codes.OutOfRange, "increment or decrement would overflow", ReasonOverflow, nil)
	case kv.CodeSessionExpired:
		return newStatus(codes.FailedPrecondition, c.Message(), ReasonSessionExpired, nil)
	case kv.CodeSequenceBelowWindow:
		return newStatus(codes.FailedPrecondition, c.Message(), ReasonSequenceBelowWindow, nil)
	case kv.CodeInvalidExpire:
		return newStatus(codes.InvalidArgument, "invalid expire time (ttl_ms must be > 0 and fit group time)", ReasonInvalid, nil)
	case kv.CodeMalformed:
		return newStatus(codes.InvalidArgument, "malformed command (check the session: client_id != 0, 1 <= low_unacked <= seq)", ReasonInvalid, nil)
	}
	return status.New(codes.Internal, "grpcapi: unexpected state machine answer "+c.String())
}
