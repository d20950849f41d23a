package kvcli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cairnkv/cairn/internal/api/grpcapi"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Options are the flags shared by every `cairn kv` command.
type Options struct {
	Endpoints   []string      // --endpoints
	Output      string        // -o table|json
	Consistency string        // --consistency linearizable|follower|stale (reads)
	TTL         time.Duration // put --ttl
	By          int64         // incr --by
	Prefix      string        // scan --prefix
	Limit       int           // scan --limit (0: all)
	Timeout     time.Duration // per request
	Out         io.Writer
	// DialOptions are the connection's options (--cacert/--cert/--key);
	// none: plaintext.
	DialOptions []grpc.DialOption
}

var (
	// ErrNotFound is returned by get and del for a missing key (cairn exits
	// with its own status for it, distinct from a failure or a usage error).
	ErrNotFound = errors.New("key not found")
	// ErrUnreachable wraps the last endpoint's error when no --endpoints
	// answered at all.
	ErrUnreachable = errors.New("no endpoint answered")
	// ErrUsage is what a bad argument or flag value is (errors.Is).
	ErrUsage = errors.New("kvcli: usage error")
)

// usageError is a usage error; its message is the inner error's.
type usageError struct{ error }

func (usageError) Is(target error) bool { return target == ErrUsage }

// Run executes one command.
func Run(ctx context.Context, o Options, cmd string, args []string) error {
	if o.Output != "table" && o.Output != "json" && o.Output != "" {
		return usageError{fmt.Errorf("-o %q: want table or json", o.Output)}
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	want := map[string]int{"get": 1, "put": 2, "del": 1, "incr": 1, "scan": 0}
	n, ok := want[cmd]
	if !ok {
		return usageError{fmt.Errorf("unknown command %q: want get, put, del, incr or scan", cmd)}
	}
	if len(args) != n {
		return usageError{fmt.Errorf("%s takes %d argument(s), got %d", cmd, n, len(args))}
	}
	cons := pb.Consistency_CONSISTENCY_LINEARIZABLE
	switch o.Consistency {
	case "", "linearizable":
	case "follower":
		cons = pb.Consistency_CONSISTENCY_FOLLOWER
	case "stale":
		cons = pb.Consistency_CONSISTENCY_STALE
	default:
		return usageError{fmt.Errorf("--consistency %q: want linearizable, follower or stale", o.Consistency)}
	}
	var last error
	for _, ep := range o.Endpoints {
		c, err := grpcapi.Dial(ep, o.DialOptions...)
		if err != nil {
			last = err
			continue
		}
		err = run(ctx, c, o, cmd, args, cons)
		c.Close()
		if status.Code(err) == codes.Unavailable && !isNotApplied(err) {
			last = fmt.Errorf("%s: %w", ep, err) // unreachable: try the next endpoint
			continue
		}
		return err
	}
	if last == nil {
		return usageError{errors.New("no --endpoints given")}
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, last)
}

func isNotApplied(err error) bool { _, ok := grpcapi.NotApplied(err); return ok }

func run(ctx context.Context, c *grpcapi.Client, o Options, cmd string, args []string, cons pb.Consistency) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	js := o.Output == "json"
	switch cmd {
	case "get":
		r, err := c.Get(ctx, &pb.GetRequest{Key: []byte(args[0]), Consistency: cons})
		if err != nil {
			return err
		}
		if !r.GetFound() {
			if js {
				emit(o.Out, map[string]any{"key": args[0], "found": false})
			}
			return ErrNotFound
		}
		if js {
			m := item([]byte(args[0]), r.GetValue(), r.GetVersion())
			m["found"] = true
			if r.TtlMs != nil {
				m["ttl_ms"] = r.GetTtlMs()
			}
			emit(o.Out, m)
			return nil
		}
		fmt.Fprintf(o.Out, "%s\n", r.GetValue())
	case "put":
		req := &pb.PutRequest{Key: []byte(args[0]), Value: []byte(args[1])}
		if o.TTL > 0 {
			req.TtlMs = o.TTL.Milliseconds()
		}
		r, err := c.Put(ctx, req)
		if err != nil {
			return err
		}
		if js {
			emit(o.Out, map[string]any{"key": args[0], "version": r.GetVersion()})
			return nil
		}
		fmt.Fprintf(o.Out, "OK (version %d)\n", r.GetVersion())
	case "del":
		r, err := c.Delete(ctx, &pb.DeleteRequest{Key: []byte(args[0])})
		if err != nil {
			return err
		}
		if js {
			emit(o.Out, map[string]any{"key": args[0], "deleted": r.GetDeleted()})
		} else if r.GetDeleted() {
			fmt.Fprintln(o.Out, "deleted")
		}
		if !r.GetDeleted() {
			return ErrNotFound
		}
	case "incr":
		by := o.By
		if by == 0 {
			by = 1
		}
		r, err := c.Incr(ctx, &pb.IncrRequest{Key: []byte(args[0]), Delta: by})
		if err != nil {
			return err
		}
		if js {
			emit(o.Out, map[string]any{"key": args[0], "value": r.GetValue(), "version": r.GetVersion()})
			return nil
		}
		fmt.Fprintln(o.Out, strconv.FormatInt(r.GetValue(), 10))
	case "scan":
		n := 0
		err := c.ScanAll(ctx, &pb.ScanRequest{Prefix: []byte(o.Prefix), Consistency: cons}, func(kv *pb.KeyValue) error {
			if o.Limit > 0 && n >= o.Limit {
				return errStop
			}
			n++
			if js {
				emit(o.Out, item(kv.GetKey(), kv.GetValue(), kv.GetVersion()))
			} else {
				fmt.Fprintf(o.Out, "%s\t%s\n", kv.GetKey(), kv.GetValue())
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
	}
	return nil
}

var errStop = errors.New("limit reached")

// item renders a key and value as HTTP listings do: strings when valid
// UTF-8, else base64 with an encoding field.
func item(key, value []byte, version uint64) map[string]any {
	m := map[string]any{"version": version}
	if utf8.Valid(key) {
		m["key"] = string(key)
	} else {
		m["key"], m["key_encoding"] = base64.StdEncoding.EncodeToString(key), "base64"
	}
	if utf8.Valid(value) {
		m["value"] = string(value)
	} else {
		m["value"], m["encoding"] = base64.StdEncoding.EncodeToString(value), "base64"
	}
	return m
}

func emit(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "%s\n", b)
}
