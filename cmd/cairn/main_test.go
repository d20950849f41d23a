package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/buildinfo"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
)

// oneKeyKV is a KV server holding the single key "present".
type oneKeyKV struct{ pb.UnimplementedKVServer }

func (oneKeyKV) Get(_ context.Context, r *pb.GetRequest) (*pb.GetResponse, error) {
	if string(r.GetKey()) == "present" {
		return &pb.GetResponse{Found: true, Value: []byte("yes"), Version: 7}, nil
	}
	return &pb.GetResponse{}, nil
}

func (oneKeyKV) Delete(_ context.Context, r *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	return &pb.DeleteResponse{Deleted: string(r.GetKey()) == "present"}, nil
}

func startKV(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterKVServer(srv, oneKeyKV{})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// TestExitStatus: every subcommand exits with the same code for the same
// kind of outcome, as cairn --help lists them.
func TestExitStatus(t *testing.T) {
	kv := startKV(t)
	dead := closedAddr(t)
	for _, c := range []struct {
		name string
		args []string
		want int
	}{
		{"found", []string{"kv", "get", "present", "--endpoints", kv}, exitOK},
		{"missing key", []string{"kv", "get", "absent", "--endpoints", kv}, exitNotFound},
		{"delete missing key", []string{"kv", "del", "absent", "--endpoints", kv}, exitNotFound},
		{"kv unreachable", []string{"kv", "get", "present", "--endpoints", dead, "--timeout", "2s"}, exitUnreachable},
		{"admin unreachable", []string{"admin", "status", "--endpoints", dead, "--timeout", "2s"}, exitUnreachable},
		{"kv too few args", []string{"kv", "get", "--endpoints", kv}, exitUsage},
		{"kv unknown flag", []string{"kv", "get", "k", "--bogus"}, exitUsage},
		{"kv bad output", []string{"kv", "get", "k", "-o", "yaml", "--endpoints", kv}, exitUsage},
		{"kv bad consistency", []string{"kv", "get", "k", "--consistency", "eventual", "--endpoints", kv}, exitUsage},
		{"unknown command", []string{"frobnicate"}, exitUsage},
		{"admin extra args", []string{"admin", "status", "x"}, exitUsage},
		{"version extra args", []string{"version", "now"}, exitUsage},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runCairn(t, c.args...)
			if code != c.want {
				t.Fatalf("cairn %s: exit %d, want %d; stderr %q", strings.Join(c.args, " "), code, c.want, stderr)
			}
		})
	}
	t.Run("help lists them", func(t *testing.T) {
		out, _, code := runCairn(t, "--help")
		if code != 0 || !strings.Contains(out, exitHelp) {
			t.Fatalf("cairn --help (exit %d) does not list the exit statuses:\n%s", code, out)
		}
	})
}

// TestLogFlagsRefusedEverywhere: a bad --log-level or --log-format (or its
// CAIRN_ variable) is a usage error on every command, also those that do
// not log, before the command does anything.
func TestLogFlagsRefusedEverywhere(t *testing.T) {
	dead := closedAddr(t)
	cmds := [][]string{
		{"kv", "get", "k", "--endpoints", dead},
		{"admin", "status", "--endpoints", dead},
		{"bench", "--endpoints", dead},
		{"check", "--time", "1s"},
		{"server", "--name", "n1"},
		{"dev"},
		{"version"},
	}
	for _, cmd := range cmds {
		for _, bad := range [][]string{{"--log-level", "loud"}, {"--log-format", "xml"}} {
			args := append(append([]string{}, cmd...), bad...)
			_, stderr, code := runCairn(t, args...)
			if code != exitUsage || !strings.Contains(stderr, bad[0]) {
				t.Errorf("cairn %s: exit %d, %q; want %d naming %s", strings.Join(args, " "), code, stderr, exitUsage, bad[0])
			}
		}
	}
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("CAIRN_LOG_LEVEL", "chatty")
		_, stderr, code := runCairn(t, "version")
		if code != exitUsage || !strings.Contains(stderr, `--log-level "chatty"`) {
			t.Fatalf("CAIRN_LOG_LEVEL=chatty: exit %d, %q", code, stderr)
		}
	})
}

func TestVersionCommand(t *testing.T) {
	want := buildinfo.Get()
	out, _, code := runCairn(t, "version")
	if code != 0 || strings.TrimSpace(out) != want.String() {
		t.Fatalf("cairn version: exit %d, %q; want %q", code, out, want.String())
	}
	out2, _, code := runCairn(t, "--version")
	if code != 0 || out2 != out {
		t.Fatalf("cairn --version: exit %d, %q; want %q", code, out2, out)
	}
	out, _, code = runCairn(t, "version", "-o", "json")
	var got buildinfo.Info
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got != want {
		t.Fatalf("cairn version -o json: exit %d, %q; want %+v", code, out, want)
	}
}

func TestUnsafeRecoverUsageNamesAPartition(t *testing.T) {
	_, stderr, code := runCairn(t, "admin", "unsafe-recover")
	if code != exitUsage || !strings.Contains(stderr, "missing PARTITION (e.g. cairn admin unsafe-recover 7)") {
		t.Fatalf("exit %d, %q; want a usage error whose example is a partition number", code, stderr)
	}
	_, stderr, _ = runCairn(t, "admin", "drain")
	if !strings.Contains(stderr, "missing NODE (e.g. cairn admin drain n2)") {
		t.Fatalf("%q; want a node name as drain's example", stderr)
	}
}

// Each default appears once in --help: the flag's own "(default ...)" and
// no second one written into its text.
func TestServerHelpShowsEachDefaultOnce(t *testing.T) {
	for _, env := range []string{"", "50"} {
		t.Setenv("GOGC", env)
		out, _, code := runCairn(t, "server", "--help")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Count(l, "(default") > 1 {
				t.Errorf("GOGC=%q: a default shown twice: %s", env, strings.TrimSpace(l))
			}
			if strings.Contains(l, "--gogc") {
				want := "(default 200)"
				if env != "" {
					want = "(default " + env + ")"
				}
				if !strings.Contains(l, want) {
					t.Errorf("GOGC=%q: %q does not show %s", env, strings.TrimSpace(l), want)
				}
			}
		}
	}
}
