package guard

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnkv/cairn/internal/api/apitest"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// hold opens n idle TCP connections to addr.
func hold(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

func serveHTTP(t *testing.T, d *Door, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler(h), ErrorLog: slog.NewLogLogger(quiet.Handler(), slog.LevelError)}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(d.Listener(ln, d.RefuseHTTP())) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// get does one request on a connection of its own.
func get(t *testing.T, addr string) (int, string, error) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr + "/")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestHTTPBoundAndPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := NewMetrics(reg).Door(Config{Name: "http", MaxConnections: 2, Logger: quiet})
	addr := serveHTTP(t, d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("panic") {
			panic("handler bug")
		}
		io.WriteString(w, "ok")
	}))
	if code, body, err := get(t, addr); err != nil || code != 200 || body != "ok" {
		t.Fatalf("got %d %q %v", code, body, err)
	}
	apitest.WaitFor(t, "the first request's connection to close", func() bool { return d.Open() == 0 })
	held := hold(t, addr, 2)
	apitest.WaitFor(t, "two connections held", func() bool { return d.Open() == 2 })
	code, body, err := get(t, addr)
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "--max-connections 2") {
		t.Fatalf("over the bound: got %d %q %v, want 503 naming the flag", code, body, err)
	}
	if n := apitest.Counter(t, reg, "cairn_door_connections_refused_total"); n != 1 {
		t.Fatalf("refused %v, want 1", n)
	}
	held[0].Close()
	apitest.WaitFor(t, "a slot to free", func() bool { return d.Open() == 1 })
	// A panic closes its connection only; the door goes on.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/?panic"); err == nil {
		t.Fatal("a panicking handler answered")
	}
	if n := apitest.Counter(t, reg, "cairn_door_panics_total"); n != 1 {
		t.Fatalf("panics %v, want 1", n)
	}
	if code, _, err := get(t, addr); err != nil || code != 200 {
		t.Fatalf("after the panic: %d %v", code, err)
	}
}

type panicHealth struct {
	healthpb.UnimplementedHealthServer
}

func (panicHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	panic("service bug")
}

func serveGRPC(t *testing.T, d *Door, hs healthpb.HealthServer, contained func(string) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(d.GRPCOptions(func(m string) bool { return strings.HasPrefix(m, "/grpc.health.v1.Health/Watch") }, contained)...)
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(d.GRPCListener(ln)) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String()
}

func check(t *testing.T, addr string) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestGRPCBound(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := NewMetrics(reg).Door(Config{Name: "grpc", MaxConnections: 2, Logger: quiet})
	addr := serveGRPC(t, d, health.NewServer(), func(string) bool { return true })
	if err := check(t, addr); err != nil {
		t.Fatal(err)
	}
	apitest.WaitFor(t, "the first client's connection to close", func() bool { return d.Open() == 0 })
	hold(t, addr, 2)
	apitest.WaitFor(t, "two connections held", func() bool { return d.Open() == 2 })
	err := check(t, addr)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-connections 2") {
		t.Fatalf("over the bound: %v, want RESOURCE_EXHAUSTED naming the flag", err)
	}
	// The overflow connection is closed after overflowLinger.
	apitest.WaitFor(t, "the overflow connection to close", func() bool { return d.overflowN.Load() == 0 })

	// A node-to-node call (Watch stands for one here) on a connection over
	// the bound goes through, and its connection is kept.
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatalf("a peer call over the bound: %v, want it served", err)
	}
	time.Sleep(overflowLinger + 200*time.Millisecond)
	if d.keptN.Load() != 1 {
		t.Fatalf("kept connections %d, want 1", d.keptN.Load())
	}
	if err := w.Context().Err(); err != nil {
		t.Fatalf("the peer's stream ended: %v", err)
	}
	cancel()
	cc.Close()
	apitest.WaitFor(t, "the kept connection to be released", func() bool { return d.keptN.Load() == 0 })
}

func TestGRPCPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := NewMetrics(reg).Door(Config{Name: "grpc", Logger: quiet})
	addr := serveGRPC(t, d, panicHealth{}, func(string) bool { return true })
	for i := range 2 {
		if err := check(t, addr); status.Code(err) != codes.Internal {
			t.Fatalf("call %d: %v, want INTERNAL", i, err)
		}
	}
	if n := apitest.Counter(t, reg, "cairn_door_panics_total"); n != 2 {
		t.Fatalf("panics %v, want 2", n)
	}
}

// flaky fails Accept with EMFILE a few times, then accepts.
type flaky struct {
	net.Listener
	fails int
	calls int
}

func (f *flaky) Accept() (net.Conn, error) {
	f.calls++
	if f.calls <= f.fails {
		return nil, &net.OpError{Op: "accept", Err: syscall.EMFILE}
	}
	return f.Listener.Accept()
}

// Out of descriptors, Accept waits and retries instead of spinning.
func TestAcceptBacksOff(t *testing.T) {
	d := NewMetrics(nil).Door(Config{Name: "resp", Logger: quiet})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{Listener: ln, fails: 4}
	l := d.Listener(f, d.RefuseWith([]byte("no\n")))
	defer l.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sc.Close()
	// 5 + 10 + 20 + 40 ms of pauses.
	if f.calls != 5 || time.Since(start) < 75*time.Millisecond {
		t.Fatalf("%d calls in %v: want 5 calls with pauses of 75 ms in all", f.calls, time.Since(start))
	}
	// Close ends an Accept that is pausing.
	f.calls, f.fails = 0, 1000
	go func() { time.Sleep(20 * time.Millisecond); l.Close() }()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

func TestMaxConnectionsFitsTheFDLimit(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skip(err)
	}
	n, lowered, _ := MaxConnections(1<<30, 3)
	if !lowered || uint64(3*n+fdReserve) > rl.Cur && n > 16 {
		t.Fatalf("MaxConnections(2^30, 3) = %d, lowered %v, with nofile %d", n, lowered, rl.Cur)
	}
	if n, lowered, _ := MaxConnections(10, 3); n != 10 || lowered {
		t.Fatalf("MaxConnections(10, 3) = %d, %v", n, lowered)
	}
}
