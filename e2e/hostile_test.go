//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rssBytes is a process's resident set size, from /proc.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the server's RSS: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS line")
	return 0
}

// respPing sends PING on c and waits at most a second for +PONG.
func respPing(c net.Conn, rd *bufio.Reader) error {
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("got %q", line)
	}
	return nil
}

// keepRESP opens a RESP connection to p that answers PING, closed at the
// end of the test.
func keepRESP(t *testing.T, p *proc) (net.Conn, *bufio.Reader) {
	t.Helper()
	keep, err := net.Dial("tcp", p.redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keep.Close() })
	rd := bufio.NewReader(keep)
	if err := respPing(keep, rd); err != nil {
		t.Fatal(err)
	}
	return keep, rd
}

// Issue 12's hostile inputs against a real server process: each gets its
// error (or, while the client is still sending, a closed connection), the
// process stays up, answers PING on another connection within a second,
// and its RSS stays within 100 MB of where it started.
func TestHostileBytesNeverStopANode(t *testing.T) {
	c := startCluster(t, 1, "--partitions", "4")
	p := c.procs[0]
	pid := p.cmd.Process.Pid
	keep, keepRd := keepRESP(t, p)
	base := rssBytes(t, pid)
	chunk := strings.Repeat("x", 64<<10)
	for _, a := range []struct {
		name, head string
		tailBytes  int
		want       string
	}{
		{"the 27-byte packet", "*1\r\n$9223372036854775806\r\n", 0, "-ERR Protocol error: invalid bulk length\r\n"},
		{"the spin packet", "*9223372036854775807\r\n", 0, "-ERR Protocol error: invalid multibulk length\r\n"},
		{"a 2^40 bulk with 200 MB behind it", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1099511627776\r\n", 200 << 20, "-ERR Protocol error: invalid bulk length\r\n"},
		{"a 10^9 array header", "*1000000000\r\n", 0, "-ERR Protocol error: invalid multibulk length\r\n"},
		{"a 300 MB inline line", "SET k ", 300 << 20, "-ERR Protocol error: too big inline request\r\n"},
		{"a 100 MB SET", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$104857600\r\n", 100 << 20, "-ERR Protocol error: invalid bulk length\r\n"},
	} {
		conn, err := net.Dial("tcp", p.redis)
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		got := make(chan string, 1)
		go func() { b, _ := io.ReadAll(conn); got <- string(b) }()
		sent := 0
		if _, err := io.WriteString(conn, a.head); err != nil {
			t.Fatalf("%s: sending the head: %v", a.name, err)
		}
		for sent < a.tailBytes {
			n, err := io.WriteString(conn, chunk)
			sent += n
			if err != nil {
				break
			}
		}
		reply := <-got
		conn.Close()
		if reply != a.want && (a.tailBytes == 0 || reply != "") {
			t.Errorf("%s: got %q, want %q", a.name, reply, a.want)
		}
		if !p.running() {
			t.Fatalf("%s: the server exited", a.name)
		}
		start := time.Now()
		if err := respPing(keep, keepRd); err != nil {
			t.Fatalf("%s: PING on another connection: %v", a.name, err)
		}
		rss := rssBytes(t, pid)
		t.Logf("%s: reply %q after %d MB sent; PING in %v; RSS %+d MB", a.name, reply, sent>>20, time.Since(start).Round(time.Microsecond), (rss-base)>>20)
		if rss-base > 100<<20 {
			t.Errorf("%s: RSS grew by %d MB (limit 100 MB)", a.name, (rss-base)>>20)
		}
	}
}

// 12,000 connections: the one opened before them goes on serving, those
// over --max-connections (lowered to fit this machine's file-descriptor
// limit) are told so and closed, and the HTTP door, with its own bound,
// still answers.
func TestConnectionFloodIsRefusedCleanly(t *testing.T) {
	c := startCluster(t, 1, "--partitions", "4")
	p := c.procs[0]
	keep, keepRd := keepRESP(t, p)
	const flood = 12000
	var (
		mu       sync.Mutex
		conns    []net.Conn
		dialErrs int
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range flood {
		conn, err := net.DialTimeout("tcp", p.redis, 5*time.Second)
		if err != nil {
			dialErrs++
			continue
		}
		conns = append(conns, conn)
	}
	if dialErrs > 0 {
		t.Logf("%d of %d dials failed on the client side", dialErrs, flood)
	}
	// Refused connections hear Redis's error at once; admitted ones hear
	// nothing.
	var refused, silent, other atomic.Int64
	var wg sync.WaitGroup
	for _, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			b, err := io.ReadAll(conn)
			switch {
			case string(b) == "-ERR max number of clients reached\r\n":
				refused.Add(1)
			case len(b) == 0 && err != nil && os.IsTimeout(err):
				silent.Add(1)
			default:
				other.Add(1)
				mu.Lock()
				if other.Load() <= 3 {
					t.Logf("unexpected: %q %v", b, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d connections: %d admitted, %d refused, %d other", len(conns), silent.Load(), refused.Load(), other.Load())
	if refused.Load() == 0 || silent.Load() == 0 || other.Load() != 0 {
		t.Fatalf("want some admitted, the rest refused with Redis's error, nothing else")
	}
	if err := respPing(keep, keepRd); err != nil {
		t.Fatalf("the connection opened before the flood: %v", err)
	}
	if code, body := httpDo(t, "GET", "http://"+p.http+"/readyz", ""); code != 200 {
		t.Fatalf("/readyz during the flood: %d %s", code, body)
	}
	// The server counts what the clients saw.
	_, metrics := httpDo(t, "GET", "http://"+p.http+"/metrics", "")
	if got, want := metricLine(metrics, `cairn_door_connections{door="resp"}`), fmt.Sprint(silent.Load()+1); got != want {
		t.Errorf("open RESP connections: server says %s, clients saw %s", got, want)
	}
	if got, want := metricLine(metrics, `cairn_door_connections_refused_total{door="resp"}`), fmt.Sprint(refused.Load()); got != want {
		t.Errorf("refused RESP connections: server says %s, clients saw %s", got, want)
	}
}

// metricLine is the value of one series in a Prometheus text exposition.
func metricLine(exposition, series string) string {
	for line := range strings.SplitSeq(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "absent"
}
