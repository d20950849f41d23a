//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// go-redis with its default options (so its own retries meet our error
// prefixes) against every node.
func TestGoRedisOnEveryNode(t *testing.T) {
	c := startCluster(t, 3, "--partitions", "8")
	ctx := context.Background()
	for i, p := range c.procs {
		rdb := redis.NewClient(&redis.Options{Addr: p.redis})
		defer rdb.Close()
		key := fmt.Sprintf("k%d", i)
		if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatalf("SET on %s: %v", p.name, err)
		}
		if n, err := rdb.Incr(ctx, "counter").Result(); err != nil || n != int64(i+1) {
			t.Fatalf("INCR on %s = %d, %v", p.name, n, err)
		}
		if ok, err := rdb.SetNX(ctx, key, "w", 0).Result(); err != nil || ok {
			t.Fatalf("SETNX on an existing key on %s = %v, %v", p.name, ok, err)
		}
		if err := rdb.Set(ctx, "ttl"+key, "x", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if d, err := rdb.TTL(ctx, "ttl"+key).Result(); err != nil || d <= 50*time.Second || d > time.Minute {
			t.Fatalf("TTL on %s = %v, %v", p.name, d, err)
		}
	}
	for _, p := range c.procs {
		rdb := redis.NewClient(&redis.Options{Addr: p.redis})
		defer rdb.Close()
		for i := range c.procs {
			if v, err := rdb.Get(ctx, fmt.Sprintf("k%d", i)).Result(); err != nil || v != "v" {
				t.Fatalf("GET k%d on %s = %q, %v", i, p.name, v, err)
			}
		}
		if _, err := rdb.Get(ctx, "missing").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET missing on %s: %v, want redis.Nil", p.name, err)
		}
		if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 7 && n != 8 {
			t.Fatalf("DBSIZE on %s = %d, %v; want 7 (8 once a node wrote \"pipelined\")", p.name, n, err)
		}
		// A pipelined SET then GET sees the SET.
		pipe := rdb.Pipeline()
		pipe.Set(ctx, "pipelined", p.name, 0)
		get := pipe.Get(ctx, "pipelined")
		if _, err := pipe.Exec(ctx); err != nil || get.Val() != p.name {
			t.Fatalf("pipelined SET; GET on %s = %q, %v", p.name, get.Val(), err)
		}
		if err := rdb.Do(ctx, "NOSUCHCMD", "a").Err(); err == nil || !strings.Contains(err.Error(), "unknown command 'NOSUCHCMD'") {
			t.Fatalf("unknown command on %s: %v", p.name, err)
		}
	}
}

func needTool(t *testing.T, tool string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s not found; install Debian package redis-tools", tool)
	}
	return path
}

func TestRedisCLI(t *testing.T) {
	cli := needTool(t, "redis-cli")
	c := startCluster(t, 3, "--partitions", "8")
	run := func(p *proc, args ...string) string {
		host, port, _ := strings.Cut(p.redis, ":")
		out, err := exec.Command(cli, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(c.procs[0], "SET", "hello", "world"); got != "OK" {
		t.Fatalf("SET: %q", got)
	}
	if got := run(c.procs[2], "GET", "hello"); got != "world" {
		t.Fatalf("GET on another node: %q", got)
	}
	if got := run(c.procs[1], "INCRBY", "n", "5"); got != "5" {
		t.Fatalf("INCRBY: %q", got)
	}
	if got := run(c.procs[1], "PING"); got != "PONG" {
		t.Fatalf("PING: %q", got)
	}
	if got := run(c.procs[0], "DEL", "hello", "n"); got != "2" {
		t.Fatalf("DEL: %q", got)
	}
}

// redis-benchmark -t set,get,incr,mset -r 100000 -n 20000 finishes with no
// error, and -t set,get,incr in pipelines of 16 (-P 16). NB: not MSET with
// -P 16: 50 connections × 16 MSETs of 10 keys each, spread over most
// partitions, can take longer than --request-timeout on a loaded 2-core
// machine running three nodes, and redis-benchmark stops at the first
// -TIMEOUT.
func TestRedisBenchmark(t *testing.T) {
	bench := needTool(t, "redis-benchmark")
	c := startCluster(t, 3)
	host, port, _ := strings.Cut(c.procs[0].redis, ":")
	var summary []string
	for _, run := range []struct{ pipeline, tests string }{{"1", "set,get,incr,mset"}, {"16", "set,get,incr"}} {
		pipeline := run.pipeline
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := exec.CommandContext(ctx, bench, "-h", host, "-p", port, "-t", run.tests,
			"-r", "100000", "-n", "20000", "-P", pipeline, "-q").CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("redis-benchmark -P %s: %v\n%s", pipeline, err, out)
		}
		s := string(out)
		if strings.Contains(strings.ToLower(s), "error") {
			t.Fatalf("redis-benchmark -P %s reported errors:\n%s", pipeline, s)
		}
		for _, cmd := range strings.Split(strings.ToUpper(run.tests), ",") {
			if !strings.Contains(s, cmd) {
				t.Fatalf("redis-benchmark -P %s printed no %s result:\n%s", pipeline, cmd, s)
			}
		}
		for _, l := range strings.Split(strings.ReplaceAll(s, "\r", "\n"), "\n") {
			if strings.Contains(l, "requests per second") {
				summary = append(summary, "-P "+pipeline+": "+strings.TrimSpace(l))
			}
		}
	}
	t.Logf("redis-benchmark (3 nodes, one process each, this machine):\n%s", strings.Join(summary, "\n"))
}
