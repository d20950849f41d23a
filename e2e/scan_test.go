//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cairnkv/cairn/client"
)

// Scans and conditional expiry through every node of a cluster where each
// node lacks some partitions (4 nodes, 2 replicas), so pages of the
// partitions a node does not hold are read on another node: go-redis's
// SCAN iterator, redis-cli --scan, HTTP listings and the Go client's Scan
// all see every key once; EXPIRE GT/LT/NX/XX and GETEX answer as Redis.
func TestScanAndExpireOnEveryNode(t *testing.T) {
	c := startCluster(t, 4, "--partitions", "8", "--replicas", "2")
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: c.procs[0].redis})
	defer rdb.Close()
	var want []string
	for i := range 150 {
		k := fmt.Sprintf("s:%03d", i)
		want = append(want, k)
		if err := rdb.Set(ctx, k, "v"+k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, "other", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	once := func(door, node string, got []string) {
		t.Helper()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s through %s: %d keys, want the %d s:* keys once each", door, node, len(got), len(want))
		}
	}
	for _, p := range c.procs {
		r := redis.NewClient(&redis.Options{Addr: p.redis})
		defer r.Close()
		var got []string
		it := r.Scan(ctx, 0, "s:*", 7).Iterator()
		for it.Next(ctx) {
			got = append(got, it.Val())
		}
		if err := it.Err(); err != nil {
			t.Fatalf("SCAN through %s: %v", p.name, err)
		}
		once("go-redis SCAN", p.name, got)

		if cli, err := exec.LookPath("redis-cli"); err == nil {
			host, port, _ := strings.Cut(p.redis, ":")
			out, err := exec.Command(cli, "-h", host, "-p", port, "--scan", "--pattern", "s:*").CombinedOutput()
			if err != nil {
				t.Fatalf("redis-cli --scan through %s: %v\n%s", p.name, err, out)
			}
			once("redis-cli --scan", p.name, strings.Fields(string(out)))
		}

		got = got[:0]
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("HTTP listing through %s does not end", p.name)
			}
			resp, err := httpClient.Get("http://" + p.http + "/v1/kv?prefix=s:&limit=13&cursor=" + url.QueryEscape(cursor))
			if err != nil {
				t.Fatal(err)
			}
			var page struct {
				Items []struct{ Key, Value string }
				Next  string
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("HTTP listing through %s: %d %v", p.name, resp.StatusCode, err)
			}
			if page.Next != "" && len(page.Items) != 13 {
				t.Fatalf("HTTP listing through %s: a page of %d items before the last", p.name, len(page.Items))
			}
			for _, it := range page.Items {
				if it.Value != "v"+it.Key {
					t.Fatalf("HTTP listing through %s: %+v", p.name, it)
				}
				got = append(got, it.Key)
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		once("HTTP listing", p.name, got)

		cl, err := client.New([]string{p.grpc}, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		err = cl.Scan(ctx, client.Range{Prefix: []byte("s:")}, func(kv client.KeyValue) error {
			got = append(got, string(kv.Key))
			return nil
		}, client.WithPageSize(11))
		cl.Close()
		if err != nil {
			t.Fatalf("gRPC Scan through %s: %v", p.name, err)
		}
		once("gRPC Scan", p.name, got)
	}

	// Conditional expiry, judged by kv when it applies, through every node.
	for i, p := range c.procs {
		r := redis.NewClient(&redis.Options{Addr: p.redis})
		defer r.Close()
		k := want[i]
		steps := []struct {
			args []any
			want int64
		}{
			{[]any{"EXPIRE", k, 100, "XX"}, 0},
			{[]any{"EXPIRE", k, 100, "GT"}, 0},
			{[]any{"EXPIRE", k, 100, "NX"}, 1},
			{[]any{"EXPIRE", k, 100, "NX"}, 0},
			{[]any{"EXPIRE", k, 200, "GT"}, 1},
			{[]any{"EXPIRE", k, 300, "LT"}, 0},
			{[]any{"EXPIRE", k, 50, "LT"}, 1},
		}
		for _, s := range steps {
			if n, err := r.Do(ctx, s.args...).Int64(); err != nil || n != s.want {
				t.Fatalf("%v through %s = %d, %v; want %d", s.args, p.name, n, err, s.want)
			}
		}
		if d, err := r.TTL(ctx, k).Result(); err != nil || d > 50*time.Second || d < 40*time.Second {
			t.Fatalf("TTL after EXPIRE LT through %s = %v, %v", p.name, d, err)
		}
		if v, err := r.GetEx(ctx, k, 0).Result(); err != nil || v != "v"+k {
			t.Fatalf("GETEX through %s = %q, %v", p.name, v, err)
		}
		if v, err := r.Do(ctx, "GETEX", k, "PERSIST").Text(); err != nil || v != "v"+k {
			t.Fatalf("GETEX PERSIST through %s = %q, %v", p.name, v, err)
		}
		if d, err := r.TTL(ctx, k).Result(); err != nil || d != -1 {
			t.Fatalf("TTL after GETEX PERSIST through %s = %v, %v", p.name, d, err)
		}
		if v, err := r.Do(ctx, "GETEX", k, "EX", 30).Text(); err != nil || v != "v"+k {
			t.Fatalf("GETEX EX through %s = %q, %v", p.name, v, err)
		}
		if d, err := r.TTL(ctx, k).Result(); err != nil || d > 30*time.Second || d < 20*time.Second {
			t.Fatalf("TTL after GETEX EX through %s = %v, %v", p.name, d, err)
		}
		if err := r.Do(ctx, "GETEX", "missing", "EX", 30).Err(); err != redis.Nil {
			t.Fatalf("GETEX of a missing key through %s: %v, want nil", p.name, err)
		}
	}
}
