//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium for the test, or skips it naming the
// package to install.
func browser(t *testing.T) (context.Context, *consoleErrors) {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no Chromium: install Debian's chromium package (apt-get install chromium) to run the dashboard's browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI containers
		chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	errs := &consoleErrors{}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := fmt.Sprintf("%s (%s:%d:%d)", d.Text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			errs.add(msg)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var s string
				for _, a := range ev.Args {
					s += string(a.Value) + " " + a.Description
				}
				errs.add(s)
			}
		}
	})
	if err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx, errs
}

type consoleErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (c *consoleErrors) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, s)
}

func (c *consoleErrors) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// screenshot saves the page as name.png in the test's artifact directory
// and, when CAIRN_SCREENSHOTS names a directory, there too (how the
// README's pictures are made).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dirs := []string{t.ArtifactDir()}
	if d := os.Getenv("CAIRN_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
}

// TestDashboardInBrowser drives the dashboard in headless Chromium against
// real servers: the overview counts the nodes, a killed node shows as down
// without a reload within --dead-after + 5 s, a join shows its moves, and
// the page logs no JavaScript error throughout.
func TestDashboardInBrowser(t *testing.T) {
	const deadAfter = 4 * time.Second
	c := startCluster(t, 3, "--partitions", "16", "--dead-after", deadAfter.String())
	ctx, errs := browser(t)
	url := "http://" + c.procs[0].http + "/ui/"
	// A light write load, so the page has rates and latencies to show.
	// NB: the addresses taken now: the test appends a joiner to c.procs
	// while this runs.
	writeTo := []string{c.procs[0].http, c.procs[1].http}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			httpDoQuiet("PUT", fmt.Sprintf("http://%s/v1/kv/dash-%d", writeTo[i%2], i%500), "v")
		}
	})
	defer wg.Wait()
	defer close(stop)

	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	count := func(sel string) int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
		if err != nil {
			t.Fatalf("counting %s: %v", sel, err)
		}
		return n
	}
	// waitUntil polls the page (never reloading it) until cond holds.
	waitUntil := func(d time.Duration, what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > d {
				t.Fatalf("the page did not show %s within %v", what, d)
			}
			time.Sleep(200 * time.Millisecond)
		}
		return time.Since(start)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("body[data-updated]"))); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	waitUntil(30*time.Second, "three nodes up", func() bool {
		return text("#node-count") == "3" && count(`#nodes tr[data-state="up"]`) == 3
	})
	if got := text("#partition-count"); got != "16" {
		t.Errorf("partitions tile shows %q, want 16", got)
	}
	// A second poll gives each node a rate and a p99.
	waitUntil(10*time.Second, "an ops/s figure", func() bool { return text("#ops") != "–" })
	screenshot(t, ctx, "overview")
	for _, tab := range []string{"ring", "partitions", "moves"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(url+"#"+tab), chromedp.WaitVisible(chromedp.CSS("#tab-"+tab))); err != nil {
			t.Fatalf("tab %s: %v", tab, err)
		}
		switch tab {
		case "ring":
			waitUntil(10*time.Second, "the ring", func() bool {
				return count("#ring path[data-node]") > 3*64 && count("#ring circle[data-partition]") == 16
			})
		case "partitions":
			waitUntil(10*time.Second, "16 partition rows", func() bool { return count("#partitions tbody tr") == 16 })
		}
		screenshot(t, ctx, tab)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"#overview")); err != nil {
		t.Fatal(err)
	}

	// Kill a node: it turns down on the page, no reload. Not the meta
	// leader: a new meta leader starts its failure detector afresh and
	// waits a whole --dead-after from its election (by design), which is
	// not what this measures; nor the node serving the page.
	var ov struct {
		Status struct {
			MetaLeader string `json:"meta_leader"`
		} `json:"status"`
	}
	_, body := httpDo(t, "GET", "http://"+c.procs[0].http+"/ui/api/overview", "")
	if err := json.Unmarshal([]byte(body), &ov); err != nil {
		t.Fatalf("overview: %v", err)
	}
	victim := c.procs[2]
	if ov.Status.MetaLeader == victim.name {
		victim = c.procs[1]
	}
	// A mark on the window that a reload would wipe.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.cairnMark = 42")); err != nil {
		t.Fatal(err)
	}
	if err := c.kill(victim, syscall.SIGKILL); err == nil {
		t.Fatalf("%s exited cleanly after SIGKILL", victim.name)
	}
	took := waitUntil(deadAfter+5*time.Second, victim.name+" down", func() bool {
		return count(fmt.Sprintf(`#nodes tr[data-node=%q][data-state="down"]`, victim.name)) == 1
	})
	t.Logf("%s shown down %v after SIGKILL (--dead-after %v)", victim.name, took.Round(100*time.Millisecond), deadAfter)
	if mark, err := chromedp.Run(ctx, chromedp.Evaluate[int]("window.cairnMark || 0")); err != nil || mark != 42 {
		t.Errorf("the page was reloaded (mark %d, %v)", mark, err)
	}
	if count(fmt.Sprintf(`#alarms li[data-kind="node-down"][data-node=%q]`, victim.name)) != 1 {
		t.Errorf("no node-down alarm for %s", victim.name)
	}
	screenshot(t, ctx, "node-down")

	// A join shows its moves.
	n4 := newJoiner(c, "n4", c.procs[0].grpc)
	c.procs = append(c.procs, n4)
	c.start(n4)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"#moves")); err != nil {
		t.Fatal(err)
	}
	waitUntil(60*time.Second, "moves for the join", func() bool {
		done, _ := strconv.Atoi(text("#moves-done"))
		return count("#inflight tbody tr")+count("#queued tbody tr") > 0 || done > 0
	})
	screenshot(t, ctx, "join-moves")
	waitUntil(30*time.Second, "n4 on the overview", func() bool {
		return count(`#nodes tr[data-node="n4"]`) == 1
	})

	if e := errs.list(); len(e) > 0 {
		t.Errorf("JavaScript errors on the page: %q", e)
	}
}
