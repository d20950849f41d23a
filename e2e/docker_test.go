//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The image and the Compose file under test are the repository's own
// (Dockerfile, deploy/compose.yaml), around the binary TestMain built
// (CGO_ENABLED=0, so static as make image's). Every test's cluster is one
// Compose project with a unique name, so its containers, network and
// volumes are its own and "down -v" removes them all.

var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
)

// composeCmd is how Compose is run here: "docker compose" (v2) or
// docker-compose (v1); nil when neither works.
func composeCmd() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	return nil
}

// needDocker skips the test, naming what is missing, unless a Docker
// Engine answers and Compose is installed.
func needDocker(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker not installed (Debian: docker.io and docker-compose): the container tests need a Docker Engine")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("docker: no Docker Engine answers (%v: %s): the container tests need one", err, strings.TrimSpace(string(out)))
	}
	c := composeCmd()
	if c == nil {
		t.Skip("docker compose: neither the compose plugin nor docker-compose is installed (Debian: docker-compose)")
	}
	return c
}

// buildImage builds the repository's Dockerfile around the e2e binary,
// once per test binary; TestMain's cleanup removes it.
func buildImage(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-image-")
		if err != nil {
			imageErr = err
			return
		}
		defer os.RemoveAll(dir)
		if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
			imageErr = err
			return
		}
		b, err := os.ReadFile(binary)
		if err != nil {
			imageErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "cairn"), b, 0o755); err != nil {
			imageErr = err
			return
		}
		tag := "cairn-e2e:" + randHex(4)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "docker", "build", "-q", "-t", tag, "-f", "../Dockerfile", dir).CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("docker build: %v\n%s", err, out)
			return
		}
		imageTag = tag
		afterAll = append(afterAll, func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageTag
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// composeNode is one service of deploy/compose.yaml, reached from the host
// through its published ports.
type composeNode struct {
	name, container   string
	redis, grpc, http string // 127.0.0.1:port on the host
}

type composeCluster struct {
	t       *testing.T
	compose []string
	project string
	env     []string
	nodes   []*composeNode
}

// startCompose brings deploy/compose.yaml up as a project of its own, on
// free host ports, and waits until every node is ready.
func startCompose(t *testing.T) *composeCluster {
	t.Helper()
	c := &composeCluster{t: t, compose: needDocker(t), project: "cairne2e" + randHex(4)}
	c.env = append(os.Environ(), "CAIRN_IMAGE="+buildImage(t))
	for i := 1; i <= 3; i++ {
		n := &composeNode{name: fmt.Sprintf("n%d", i), redis: freePort(t), grpc: freePort(t), http: freePort(t)}
		n.container = fmt.Sprintf("%s_%s_1", c.project, n.name) // Compose v1's name; v2's is looked up below
		for door, addr := range map[string]string{"RESP": n.redis, "GRPC": n.grpc, "HTTP": n.http} {
			_, port, _ := net.SplitHostPort(addr)
			c.env = append(c.env, fmt.Sprintf("CAIRN_N%d_%s_PORT=%s", i, door, port))
		}
		c.nodes = append(c.nodes, n)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.nodes {
				out, _ := exec.Command("docker", "logs", "--tail", "15", n.container).CombinedOutput()
				t.Logf("--- %s log tail:\n%s", n.name, out)
			}
		}
		start := time.Now()
		if out, err := c.run(2*time.Minute, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
		t.Logf("compose down took %v", time.Since(start).Round(time.Millisecond))
	})
	start := time.Now()
	if out, err := c.run(3*time.Minute, "up", "-d"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	for _, n := range c.nodes {
		out, err := c.run(30*time.Second, "ps", "-q", n.name)
		if id := strings.TrimSpace(string(out)); err == nil && id != "" {
			n.container = id
		}
	}
	c.waitReady(90 * time.Second)
	t.Logf("compose up until every node was ready: %v", time.Since(start).Round(time.Millisecond))
	return c
}

func (c *composeCluster) run(timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append(append(append([]string{}, c.compose[1:]...), "-p", c.project, "-f", "../deploy/compose.yaml"), args...)
	cmd := exec.CommandContext(ctx, c.compose[0], full...)
	cmd.Env = c.env
	return cmd.CombinedOutput()
}

func docker(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (n *composeNode) ready() bool {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + n.http + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (c *composeCluster) waitReady(d time.Duration) {
	c.t.Helper()
	for _, n := range c.nodes {
		waitUntil(c.t, d, n.name+" ready on "+n.http, n.ready)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// clusterView is what a test reads of /v1/cluster.
type clusterView struct {
	Nodes []struct {
		Name, State string
	} `json:"nodes"`
	Meta *struct {
		Leader string `json:"leader"`
	} `json:"meta_group"`
	Partitions []struct {
		Leader string `json:"leader"`
	} `json:"partitions"`
}

func (n *composeNode) cluster(t *testing.T) clusterView {
	t.Helper()
	code, body := httpDo(t, "GET", "http://"+n.http+"/v1/cluster", "")
	var v clusterView
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("%s /v1/cluster: %d %s", n.name, code, body)
	}
	return v
}

// writer SETs k-0, k-1, ... one at a time through the nodes it may use,
// moving to the next node on an error, and records every key a node
// acknowledged. A write that no node has acknowledged within its budget
// is a failure.
type writer struct {
	mu      sync.Mutex
	acked   []string
	failed  []string
	retried int // errors the documented retry absorbed
	lastAck time.Time
	use     func() []*composeNode
	clients map[string]*redis.Client
	prefix  string
	stop    chan struct{}
	done    chan struct{}
}

func startWriter(c *composeCluster, prefix string, use func() []*composeNode) *writer {
	w := &writer{use: use, clients: map[string]*redis.Client{}, prefix: prefix, stop: make(chan struct{}), done: make(chan struct{})}
	for _, n := range c.nodes {
		// NB: no retries inside go-redis: this loop retries, and counts.
		w.clients[n.name] = redis.NewClient(&redis.Options{Addr: n.redis, MaxRetries: -1,
			DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: time.Second})
	}
	go w.run()
	return w
}

func (w *writer) run() {
	defer close(w.done)
	next := 0
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		key := fmt.Sprintf("%s-%d", w.prefix, i)
		deadline := time.Now().Add(20 * time.Second)
		ok := false
		for !ok && time.Now().Before(deadline) {
			nodes := w.use()
			if len(nodes) == 0 {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			n := nodes[next%len(nodes)]
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			// SET of the key's own value: applying it twice (a retry after
			// an unknown outcome, DESIGN.md) leaves the same state.
			err := w.clients[n.name].Set(ctx, key, key, 0).Err()
			cancel()
			if err == nil {
				ok = true
				break
			}
			w.mu.Lock()
			w.retried++
			w.mu.Unlock()
			next++
			time.Sleep(50 * time.Millisecond)
		}
		w.mu.Lock()
		if ok {
			w.acked = append(w.acked, key)
			w.lastAck = time.Now()
		} else {
			w.failed = append(w.failed, key)
		}
		w.mu.Unlock()
		next++
	}
}

// waitAcks waits until the writer has n more acknowledgements than now.
func (w *writer) waitAcks(t *testing.T, n int, d time.Duration, what string) {
	t.Helper()
	w.mu.Lock()
	want := len(w.acked) + n
	w.mu.Unlock()
	waitUntil(t, d, fmt.Sprintf("%d more acknowledged writes %s", n, what), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.acked) >= want
	})
}

// finish stops the writer and returns what it saw.
func (w *writer) finish() (acked, failed []string, retried int) {
	close(w.stop)
	<-w.done
	for _, cl := range w.clients {
		cl.Close()
	}
	return w.acked, w.failed, w.retried
}

// checkAcked reads every acknowledged key through node n.
func checkAcked(t *testing.T, n *composeNode, keys []string) {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: n.redis})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for start := 0; start < len(keys); start += 100 {
		batch := keys[start:min(start+100, len(keys))]
		// MGET across partitions: linearizable per partition.
		vals, err := cl.MGet(ctx, batch...).Result()
		if err != nil {
			t.Fatalf("MGET through %s: %v", n.name, err)
		}
		for i, v := range vals {
			if s, _ := v.(string); s != batch[i] {
				t.Fatalf("acknowledged write %s lost: %s answers %v", batch[i], n.name, v)
			}
		}
	}
}

// TestCompose runs deploy/compose.yaml's cluster on real containers and
// takes it through what operators do to one: use it from the host, lose a
// container, cut one off the network, restart every node in turn. The
// subtests share the cluster and leave it whole for the next.
func TestCompose(t *testing.T) {
	c := startCompose(t)
	all := func() []*composeNode { return c.nodes }

	t.Run("serves", func(t *testing.T) {
		start := time.Now()
		defer func() { t.Logf("took %v", time.Since(start).Round(time.Millisecond)) }()
		if v := c.nodes[2].cluster(t); len(v.Nodes) != 3 {
			t.Fatalf("/v1/cluster lists %d nodes, want 3: %+v", len(v.Nodes), v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i, n := range c.nodes {
			cl := redis.NewClient(&redis.Options{Addr: n.redis})
			key := "from-go-redis-" + n.name
			if err := cl.Set(ctx, key, n.name, 0).Err(); err != nil {
				t.Fatalf("go-redis SET through %s: %v", n.name, err)
			}
			cl.Close()
			other := c.nodes[(i+1)%3]
			if out, err := cairn(t, "kv", "get", key, "--endpoints", other.grpc); err != nil || strings.TrimSpace(out) != n.name {
				t.Fatalf("cairn kv get %s through %s: %q %v", key, other.name, out, err)
			}
		}
		if out, err := cairn(t, "kv", "put", "from-cairn-kv", "v1", "--endpoints", c.nodes[0].grpc); err != nil {
			t.Fatalf("cairn kv put: %q %v", out, err)
		}
		if _, err := exec.LookPath("redis-cli"); err != nil {
			t.Log("redis-cli not installed (Debian: redis-tools): go-redis alone checked the RESP door")
			return
		}
		_, port, _ := net.SplitHostPort(c.nodes[2].redis)
		out, err := exec.CommandContext(ctx, "redis-cli", "-p", port, "get", "from-cairn-kv").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "v1" {
			t.Fatalf("redis-cli -p %s get from-cairn-kv: %q %v", port, out, err)
		}
		code, body := httpDo(t, "GET", "http://"+c.nodes[1].http+"/metrics", "")
		if code != 200 || !strings.Contains(body, "cairn_build_info{") {
			t.Fatalf("/metrics has no cairn_build_info: %d", code)
		}
	})

	t.Run("kill", func(t *testing.T) {
		start := time.Now()
		defer func() { t.Logf("took %v", time.Since(start).Round(time.Millisecond)) }()
		victim := c.nodes[1]
		var mu sync.Mutex
		down := false
		w := startWriter(c, "kill", func() []*composeNode {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return []*composeNode{c.nodes[0], c.nodes[2]}
			}
			return all()
		})
		w.waitAcks(t, 50, 30*time.Second, "before the kill")
		mu.Lock()
		down = true
		mu.Unlock()
		docker(t, "kill", victim.container)
		w.waitAcks(t, 50, 30*time.Second, "after docker kill of "+victim.name)
		docker(t, "start", victim.container)
		waitUntil(t, 60*time.Second, victim.name+" ready again", victim.ready)
		mu.Lock()
		down = false
		mu.Unlock()
		w.waitAcks(t, 20, 30*time.Second, "with "+victim.name+" back")
		acked, failed, retried := w.finish()
		t.Logf("%d writes acknowledged, %d retried errors", len(acked), retried)
		if len(failed) > 0 {
			t.Fatalf("%d writes never acknowledged: %v", len(failed), failed)
		}
		checkAcked(t, victim, acked)
	})

	t.Run("partition", func(t *testing.T) {
		start := time.Now()
		defer func() { t.Logf("took %v", time.Since(start).Round(time.Millisecond)) }()
		v := c.nodes[0].cluster(t)
		if v.Meta == nil || v.Meta.Leader == "" {
			t.Fatalf("no meta leader in /v1/cluster: %+v", v)
		}
		var cut *composeNode
		var rest []*composeNode
		for _, n := range c.nodes {
			if n.name == v.Meta.Leader {
				cut = n
			} else {
				rest = append(rest, n)
			}
		}
		if cut == nil {
			t.Fatalf("meta leader %q is not one of the nodes", v.Meta.Leader)
		}
		network := c.project + "_cairn"
		w := startWriter(c, "partition", func() []*composeNode { return rest })
		w.waitAcks(t, 30, 30*time.Second, "before the partition")
		// NB: the published ports go through the network too, so the cut
		// node is unreachable from the host as well.
		docker(t, "network", "disconnect", network, cut.container)
		w.waitAcks(t, 50, 45*time.Second, "while "+cut.name+" (the meta leader) is cut off")
		waitUntil(t, 30*time.Second, "a new meta leader", func() bool {
			v := rest[0].cluster(t)
			return v.Meta != nil && v.Meta.Leader != "" && v.Meta.Leader != cut.name
		})
		docker(t, "network", "connect", "--alias", cut.name, network, cut.container)
		waitUntil(t, 60*time.Second, cut.name+" ready after reconnecting", cut.ready)
		acked, failed, retried := w.finish()
		t.Logf("%d writes acknowledged, %d retried errors", len(acked), retried)
		if len(failed) > 0 {
			t.Fatalf("%d writes never acknowledged: %v", len(failed), failed)
		}
		checkAcked(t, cut, acked)
	})

	t.Run("rolling restart", func(t *testing.T) {
		start := time.Now()
		defer func() { t.Logf("took %v", time.Since(start).Round(time.Millisecond)) }()
		var mu sync.Mutex
		restarting := ""
		w := startWriter(c, "roll", func() []*composeNode {
			mu.Lock()
			defer mu.Unlock()
			var up []*composeNode
			for _, n := range c.nodes {
				if n.name != restarting {
					up = append(up, n)
				}
			}
			return up
		})
		w.waitAcks(t, 30, 30*time.Second, "before the restarts")
		for _, n := range c.nodes {
			// An operator takes a node out of the load balancer first, as
			// a readiness probe does; the writer's retries cover the rest.
			mu.Lock()
			restarting = n.name
			mu.Unlock()
			docker(t, "restart", "-t", "30", n.container)
			waitUntil(t, 60*time.Second, n.name+" ready after its restart", n.ready)
			mu.Lock()
			restarting = ""
			mu.Unlock()
			w.waitAcks(t, 20, 30*time.Second, "after restarting "+n.name)
		}
		acked, failed, retried := w.finish()
		t.Logf("%d writes acknowledged, %d retried errors", len(acked), retried)
		if len(failed) > 0 {
			t.Fatalf("%d writes never acknowledged: %v", len(failed), failed)
		}
		checkAcked(t, c.nodes[0], acked)
	})
}
