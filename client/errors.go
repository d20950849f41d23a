package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors a call returns, one per row of DESIGN.md's outcome table. Branch
// on them with errors.Is; the typed errors below carry the details.
var (
	// ErrIndeterminate: the outcome of a write is unknown, it may or may not
	// have applied (once: every write carries a session, so the retries
	// the client made cannot apply it twice). Read the key to find out. The
	// error is an *IndeterminateError.
	ErrIndeterminate = errors.New("client: outcome unknown (indeterminate): the write may or may not have applied")
	// ErrNotApplied: the request certainly had no effect, and the client
	// gave up retrying (attempts or the deadline ran out); retrying it is
	// safe. The error is a *NotAppliedError wrapping the last cause.
	ErrNotApplied = errors.New("client: not applied")
	// ErrConditionFailed: an IfAbsent, IfExists, IfVersion or IfValue
	// condition did not hold; nothing changed. The error is a
	// *ConditionError with the key's current version.
	ErrConditionFailed = errors.New("client: condition failed")
	// ErrNotInteger: Incr on a value that is not a base-10 int64.
	ErrNotInteger = errors.New("client: value is not an integer or out of range")
	// ErrOverflow: Incr would overflow an int64.
	ErrOverflow = errors.New("client: increment would overflow")
	// ErrInvalid: a key or value too large (the message names the server's
	// limit, --max-key-size or --max-value-size) or a malformed request.
	ErrInvalid = errors.New("client: invalid argument")
	// ErrNoSpace: the node is below its free-disk floor (--min-free-disk)
	// and refuses writes; reads are still served.
	ErrNoSpace = errors.New("client: disk nearly full on the node, writes refused")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client: closed")
)

// IndeterminateError is a write whose outcome is unknown: an attempt was
// sent and never answered (the connection broke, the server's
// --request-timeout passed, the caller's deadline passed) and no later
// attempt learned the answer. errors.Is(err, ErrIndeterminate) holds.
type IndeterminateError struct {
	Attempts int   // attempts made
	Err      error // the last cause, and the context's error when it ended
}

func (e *IndeterminateError) Error() string {
	return fmt.Sprintf("%v (after %d attempts): %v", ErrIndeterminate, e.Attempts, e.Err)
}
func (e *IndeterminateError) Unwrap() error        { return e.Err }
func (e *IndeterminateError) Is(target error) bool { return target == ErrIndeterminate }

// NotAppliedError is a request that certainly had no effect, after the
// client retried it as far as it could. errors.Is(err, ErrNotApplied)
// holds, and so does errors.Is(err, context.DeadlineExceeded) when the
// deadline is what ended the retries.
type NotAppliedError struct {
	Leader   string // the last leader a node named, "" when none did
	Attempts int    // attempts made
	Err      error  // the last cause
}

func (e *NotAppliedError) Error() string {
	s := fmt.Sprintf("%v (after %d attempts", ErrNotApplied, e.Attempts)
	if e.Leader != "" {
		s += ", leader " + e.Leader
	}
	return s + "): retry is safe: " + e.Err.Error()
}
func (e *NotAppliedError) Unwrap() error        { return e.Err }
func (e *NotAppliedError) Is(target error) bool { return target == ErrNotApplied }

// ConditionError is a write whose condition did not hold.
// errors.Is(err, ErrConditionFailed) holds.
type ConditionError struct {
	Version uint64 // the key's current version; 0: the key is absent
	Err     error  // the server's answer
}

func (e *ConditionError) Error() string {
	if e.Version == 0 {
		return "client: condition failed: key is absent"
	}
	return "client: condition failed: key's current version is " + strconv.FormatUint(e.Version, 10)
}
func (e *ConditionError) Unwrap() error        { return e.Err }
func (e *ConditionError) Is(target error) bool { return target == ErrConditionFailed }

// The ErrorInfo the server attaches (internal/api/grpcapi; a test checks
// that these match its constants).
const (
	errorDomain               = "cairn"
	reasonNotApplied          = "NOT_APPLIED"
	reasonConditionFailed     = "CONDITION_FAILED"
	reasonNotInteger          = "NOT_INTEGER"
	reasonOverflow            = "OVERFLOW"
	reasonSessionExpired      = "SESSION_EXPIRED"
	reasonSequenceBelowWindow = "SEQUENCE_BELOW_WINDOW"
	reasonNoSpace             = "NOSPACE"
)

// verdict is what one attempt's answer means for the request.
type verdict int

const (
	vDone           verdict = iota
	vFinal                  // a definite answer; the request ends with it
	vNotApplied             // certainly not applied: retry; perhaps at the named leader
	vUnreachable            // nothing was sent: the node could not be reached
	vIndeterminate          // sent, outcome unknown: retry under the same session
	vSessionExpired         // the partition forgot the session; nothing applied
	vBelowWindow            // the partition forgot this seq's result; nothing applied now
	vCtx                    // the caller's context ended
)

// answer is one attempt's verdict, with the error to return for vFinal and
// the leader a not-applied answer named.
type answer struct {
	v      verdict
	err    error
	leader string
	// For a vFinal answer to a write: weak says it does not rule out that
	// an earlier attempt applied (NOSPACE is refused before proposing, and
	// says nothing of the attempts before); mayApply says this very attempt
	// may have applied (the server failed while handling it).
	weak, mayApply bool
}

// errorInfo is err's cairn ErrorInfo, nil when it has none.
func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.Domain == errorDomain {
			return ei
		}
	}
	return nil
}

// classify reads one attempt's error. sent says whether the request may
// have left the client; ctx is the request's context.
func classify(ctx context.Context, err error, sent bool) answer {
	if err == nil {
		return answer{v: vDone}
	}
	if ctx.Err() != nil {
		return answer{v: vCtx, err: err}
	}
	if errors.Is(err, ErrClosed) {
		return answer{v: vFinal, err: err, weak: true}
	}
	st, ok := status.FromError(err)
	if !ok {
		if !sent {
			return answer{v: vUnreachable, err: err}
		}
		return answer{v: vIndeterminate, err: err}
	}
	ei := errorInfo(st)
	reason := ""
	if ei != nil {
		reason = ei.Reason
	}
	switch st.Code() {
	case codes.Unavailable:
		if reason == reasonNotApplied {
			return answer{v: vNotApplied, err: err, leader: ei.Metadata["leader"]}
		}
		// A bare UNAVAILABLE is a broken connection or stream: the request
		// is lost if it left.
	case codes.DeadlineExceeded:
		// The server's --request-timeout: indeterminate.
		if sent {
			return answer{v: vIndeterminate, err: err}
		}
	case codes.FailedPrecondition:
		switch reason {
		case reasonConditionFailed:
			v, _ := strconv.ParseUint(ei.Metadata["version"], 10, 64)
			return answer{v: vFinal, err: &ConditionError{Version: v, Err: err}}
		case reasonNotInteger:
			return answer{v: vFinal, err: fmt.Errorf("%w: %w", ErrNotInteger, err)}
		case reasonSessionExpired:
			return answer{v: vSessionExpired, err: err}
		case reasonSequenceBelowWindow:
			return answer{v: vBelowWindow, err: err}
		}
		return answer{v: vFinal, err: err}
	case codes.OutOfRange:
		if reason == reasonOverflow {
			return answer{v: vFinal, err: fmt.Errorf("%w: %w", ErrOverflow, err)}
		}
		return answer{v: vFinal, err: err}
	case codes.InvalidArgument:
		return answer{v: vFinal, err: fmt.Errorf("%w: %w", ErrInvalid, err)}
	case codes.ResourceExhausted:
		if reason == reasonNoSpace {
			return answer{v: vFinal, err: fmt.Errorf("%w: %w", ErrNoSpace, err), weak: true}
		}
		// gRPC's own message size limit, checked before sending.
		return answer{v: vFinal, err: fmt.Errorf("%w: %w", ErrInvalid, err)}
	case codes.Unimplemented, codes.Unauthenticated, codes.PermissionDenied:
		// Refused before the request was looked at.
		return answer{v: vFinal, err: err}
	}
	if !sent {
		return answer{v: vUnreachable, err: err}
	}
	if st.Code() == codes.Unavailable || st.Code() == codes.Canceled {
		return answer{v: vIndeterminate, err: err}
	}
	// Internal, Unknown and the like: the server failed while handling it.
	return answer{v: vFinal, err: err, weak: true, mayApply: true}
}
