//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A cluster created with --engine paxos serves the tools a user already
// has, the same as a Raft one: HTTP, the cairn CLI (the Go client),
// go-redis, redis-cli and redis-benchmark on every node; /v1/cluster shows
// each partition's Paxos section (its ballot) and the meta group stays
// Raft.
func TestPaxosClusterServesEveryTool(t *testing.T) {
	c := startCluster(t, 3, "--partitions", "8", "--engine", "paxos")
	ctx := context.Background()
	for i, p := range c.procs {
		key := fmt.Sprintf("http-%d", i)
		if code, body := httpDo(t, "PUT", "http://"+p.http+"/v1/kv/"+key, "v"+key); code != 201 {
			t.Fatalf("PUT on %s: %d %s", p.name, code, body)
		}
		ckey := fmt.Sprintf("cli-%d", i)
		if out, err := cairn(t, "kv", "put", ckey, "x", "--endpoints", p.grpc); err != nil {
			t.Fatalf("cairn kv put on %s: %v %s", p.name, err, out)
		}
		rdb := redis.NewClient(&redis.Options{Addr: p.redis})
		if n, err := rdb.Incr(ctx, "counter").Result(); err != nil || n != int64(i+1) {
			t.Fatalf("INCR on %s = %d, %v", p.name, n, err)
		}
		_ = rdb.Close()
		for _, q := range c.procs {
			if code, body := httpDo(t, "GET", "http://"+q.http+"/v1/kv/"+key, ""); code != 200 || body != "v"+key {
				t.Fatalf("GET %s on %s: %d %q", key, q.name, code, body)
			}
			out, err := cairn(t, "kv", "get", ckey, "--endpoints", q.grpc, "-o", "json")
			var got struct {
				Value string `json:"value"`
				Found bool   `json:"found"`
			}
			if err != nil || json.Unmarshal([]byte(out), &got) != nil || !got.Found || got.Value != "x" {
				t.Fatalf("cairn kv get %s on %s: %q %v", ckey, q.name, out, err)
			}
		}
	}
	var view struct {
		Partitions []struct {
			Leader string `json:"leader"`
			Local  *struct {
				Engine struct {
					Name   string `json:"name"`
					Ballot string `json:"ballot"`
				} `json:"engine"`
			} `json:"local"`
		} `json:"partitions"`
	}
	_, body := httpDo(t, "GET", "http://"+c.procs[0].http+"/v1/cluster", "")
	if err := json.Unmarshal([]byte(body), &view); err != nil || len(view.Partitions) != 8 {
		t.Fatalf("/v1/cluster: %v %s", err, body)
	}
	for i, p := range view.Partitions {
		if p.Leader == "" || p.Local == nil || p.Local.Engine.Name != "paxos" || p.Local.Engine.Ballot == "" {
			t.Fatalf("partition %d: leader %q, local engine section %+v; want paxos's with a ballot", i, p.Leader, p.Local)
		}
	}

	t.Run("redis-tools", func(t *testing.T) {
		cli := needTool(t, "redis-cli")
		bench := needTool(t, "redis-benchmark")
		host, port, _ := strings.Cut(c.procs[1].redis, ":")
		if out, err := exec.Command(cli, "-h", host, "-p", port, "SET", "hello", "paxos").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "OK" {
			t.Fatalf("redis-cli SET: %v %q", err, out)
		}
		host, port, _ = strings.Cut(c.procs[2].redis, ":")
		if out, err := exec.Command(cli, "-h", host, "-p", port, "GET", "hello").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "paxos" {
			t.Fatalf("redis-cli GET on another node: %v %q", err, out)
		}
		bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(bctx, bench, "-h", host, "-p", port, "-t", "set,get,incr",
			"-r", "100000", "-n", "10000", "-q").CombinedOutput()
		if err != nil || strings.Contains(strings.ToLower(string(out)), "error") {
			t.Fatalf("redis-benchmark: %v\n%s", err, out)
		}
		var summary []string
		for _, l := range strings.Split(strings.ReplaceAll(string(out), "\r", "\n"), "\n") {
			if strings.Contains(l, "requests per second") {
				summary = append(summary, strings.TrimSpace(l))
			}
		}
		if len(summary) != 3 {
			t.Fatalf("redis-benchmark printed %d results, want SET, GET and INCR:\n%s", len(summary), out)
		}
		t.Logf("redis-benchmark on a Paxos cluster (3 nodes, this machine):\n%s", strings.Join(summary, "\n"))
	})
}
