//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Every door on every node serves every key.
func TestEveryDoorOnEveryNode(t *testing.T) {
	c := startCluster(t, 3, "--partitions", "8")
	for i, p := range c.procs {
		key := fmt.Sprintf("http-%d", i)
		if code, body := httpDo(t, "PUT", "http://"+p.http+"/v1/kv/"+key, "v"+key); code != 201 {
			t.Fatalf("PUT on %s: %d %s", p.name, code, body)
		}
		for _, q := range c.procs {
			if code, body := httpDo(t, "GET", "http://"+q.http+"/v1/kv/"+key, ""); code != 200 || body != "v"+key {
				t.Fatalf("GET %s on %s: %d %q", key, q.name, code, body)
			}
		}
		ckey := fmt.Sprintf("cli-%d", i)
		if out, err := cairn(t, "kv", "put", ckey, "x", "--endpoints", p.grpc); err != nil {
			t.Fatalf("cairn kv put on %s: %v %s", p.name, err, out)
		}
		for _, q := range c.procs {
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
			Leader string   `json:"leader"`
			Voters []string `json:"voters"`
			Term   uint64   `json:"term"`
			Local  *struct {
				Engine struct {
					Name string `json:"name"`
					Term uint64 `json:"term"`
				} `json:"engine"`
			} `json:"local"`
		} `json:"partitions"`
	}
	_, body := httpDo(t, "GET", "http://"+c.procs[0].http+"/v1/cluster", "")
	if err := json.Unmarshal([]byte(body), &view); err != nil || len(view.Partitions) != 8 {
		t.Fatalf("/v1/cluster: %v %s", err, body)
	}
	for i, p := range view.Partitions {
		if p.Leader == "" || len(p.Voters) != 3 {
			t.Fatalf("partition %d: %+v", i, p)
		}
		// Every node holds every partition here: each has the engine's own
		// section, Raft's with its term.
		if p.Local == nil || p.Local.Engine.Name != "raft" || p.Local.Engine.Term == 0 {
			t.Fatalf("partition %d: local engine section %+v, want raft's with a term", i, p.Local)
		}
	}
	// Every node's view lists every node's published door addresses.
	for _, q := range c.procs {
		c.waitFor(10*time.Second, q.name+"'s view to list every node's addresses", func() bool {
			var v struct {
				Nodes []struct{ Name, GRPC, HTTP, Redis string } `json:"nodes"`
			}
			_, body := httpDo(t, "GET", "http://"+q.http+"/v1/cluster", "")
			if json.Unmarshal([]byte(body), &v) != nil || len(v.Nodes) != 3 {
				return false
			}
			for _, nv := range v.Nodes {
				p := c.procs[nv.Name[1]-'1']
				if nv.GRPC != p.grpc || nv.HTTP != p.http || nv.Redis != p.redis {
					return false
				}
			}
			return true
		})
	}
}

// kill -9 of one node and then of every node: every acknowledged write is
// there after the restart (restart recovery; fsync itself is proven by the
// core's power-loss tests).
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	c := startCluster(t, 3, "--partitions", "4")
	var mu sync.Mutex
	acked := map[string]string{}
	write := func(from, to int) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from; i < to; i++ {
					p := c.procs[(w+i)%len(c.procs)]
					if !p.running() {
						continue
					}
					key := fmt.Sprintf("k-%d-%d", w, i)
					if code, _ := httpDoQuiet("PUT", "http://"+p.http+"/v1/kv/"+key, key); code == 201 || code == 200 {
						mu.Lock()
						acked[key] = key
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
	}
	write(0, 50)
	victim := c.procs[1]
	if err := c.kill(victim, syscall.SIGKILL); err == nil {
		t.Fatal("kill -9 reported a clean exit")
	}
	write(50, 100)
	c.start(victim)
	c.waitReady()
	for _, p := range c.procs {
		_ = c.kill(p, syscall.SIGKILL)
	}
	for _, p := range c.procs {
		c.start(p)
	}
	c.waitReady()
	if len(acked) < 300 {
		t.Fatalf("only %d writes acknowledged; the test proves little", len(acked))
	}
	for key, val := range acked {
		p := c.procs[len(key)%3]
		if code, body := httpDo(t, "GET", "http://"+p.http+"/v1/kv/"+key, ""); code != 200 || body != val {
			t.Fatalf("acknowledged %s lost after kill -9 of every node: %d %q", key, code, body)
		}
	}
}

func httpDoQuiet(method, url, body string) (int, error) {
	req, _ := newRequest(method, url, body)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// A restart with a --partitions different from the stored one is refused,
// naming both; a node whose data was wiped is refused by its peers.
func TestRefusedRestarts(t *testing.T) {
	c := startCluster(t, 3, "--partitions", "4")
	p := c.procs[2]
	if err := c.kill(p, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	out, err := exec.Command(binary, append(p.args, "--partitions", "16")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "16") || !strings.Contains(string(out), "4") {
		t.Fatalf("restart with --partitions 16 over 4: %v\n%s", err, out)
	}
	if err := os.RemoveAll(p.dir); err != nil {
		t.Fatal(err)
	}
	c.start(p)
	c.waitFor(20*time.Second, "a peer to refuse the wiped node", func() bool {
		for _, q := range c.procs[:2] {
			b, _ := os.ReadFile(q.log)
			if strings.Contains(string(b), "lost its data") {
				return true
			}
		}
		return false
	})
}
