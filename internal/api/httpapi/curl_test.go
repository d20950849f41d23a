package httpapi

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCurl drives the door with the real curl, as a user would.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not on PATH (install the Debian package curl)")
	}
	e := newEnv(t)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--noproxy", "*"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	url := e.ts.URL + "/v1/kv/greeting"
	if out := run("-X", "PUT", "--data-binary", "hello, world", "-w", " %{http_code}", url+"?ttl=1h"); !strings.HasSuffix(out, " 201") || !strings.Contains(out, `"version":`) {
		t.Fatalf("PUT: %q", out)
	}
	if out := run(url); out != "hello, world" {
		t.Fatalf("GET: %q", out)
	}
	headers := run("-i", url)
	if !containsAll(strings.ToLower(headers), "x-cairn-version: ", "x-cairn-ttl-ms: ", "content-type: application/octet-stream") {
		t.Fatalf("GET -i: %q", headers)
	}
	if out := run("-w", "%{http_code}", "-o", "/dev/null", "-X", "DELETE", url); out != "204" {
		t.Fatalf("DELETE: %q", out)
	}
	if out := run("-w", " %{http_code}", url); !strings.HasSuffix(out, " 404") {
		t.Fatalf("GET after DELETE: %q", out)
	}
}
