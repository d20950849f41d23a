//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMonitoringNamesRealMetrics checks deploy/monitoring against real
// servers: every metric the Grafana dashboard queries is one a node
// exports, so the dashboard never shows an empty panel for a typo or a
// renamed metric.
func TestMonitoringNamesRealMetrics(t *testing.T) {
	b, err := os.ReadFile("../deploy/monitoring/grafana-cairn.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("grafana-cairn.json: %v", err)
	}
	used := map[string]string{} // metric → the panel using it
	name := regexp.MustCompile(`\b(cairn|process)_[a-z_]+\b`)
	add := func(panel, expr string) {
		for _, m := range name.FindAllString(expr, -1) {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				m = strings.TrimSuffix(m, suffix)
			}
			used[m] = panel
		}
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			add(p.Title, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		add("variables", v.Definition)
	}
	if len(used) < 10 {
		t.Fatalf("only %d metrics found in the dashboard: %v", len(used), used)
	}

	c := startCluster(t, 3, "--partitions", "4")
	// A request through every door, so that each door's series exist.
	for _, p := range c.procs {
		if code, _ := httpDo(t, "PUT", "http://"+p.http+"/v1/kv/mon", "v"); code != 200 && code != 201 {
			t.Fatalf("PUT on %s: %d", p.name, code)
		}
		rdb := redis.NewClient(&redis.Options{Addr: p.redis})
		if err := rdb.Set(context.Background(), "mon", "v", 0).Err(); err != nil {
			t.Fatalf("SET on %s: %v", p.name, err)
		}
		rdb.Close()
		if out, err := cairn(t, "kv", "put", "mon", "v", "--endpoints", p.grpc); err != nil {
			t.Fatalf("cairn kv put on %s: %v\n%s", p.name, err, out)
		}
	}
	// Some series appear a moment after start (the clock offsets, once
	// peers have exchanged heartbeats): look again until all are there.
	missing := func() []string {
		exported := map[string]bool{}
		for _, p := range c.procs {
			_, body := httpDo(t, "GET", "http://"+p.http+"/metrics", "")
			sc := bufio.NewScanner(strings.NewReader(body))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
					exported[f[2]] = true
				}
			}
		}
		var out []string
		for m, panel := range used {
			// Only a primary-backup cluster exports these (its node test
			// checks them); this cluster runs Raft.
			if !exported[m] && !strings.HasPrefix(m, "cairn_pb_") {
				out = append(out, fmt.Sprintf("panel %q queries %s, which no node exports", panel, m))
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := missing()
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(strings.Join(m, "\n"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
