package runner

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// fakeServerEnv makes the test binary a stand-in for `cairn server` (see
// fakeServer), so the process handling is tested without building cairn.
const fakeServerEnv = "RUNNER_TEST_FAKE_SERVER"

func TestMain(m *testing.M) {
	switch os.Getenv(fakeServerEnv) {
	case "":
		goleak.VerifyTestMain(m)
	case "exit":
		fmt.Fprintln(os.Stderr, "fake server: refusing to start")
		os.Exit(3)
	default:
		fakeServer()
	}
}

// fakeServer answers 200 on /readyz at --http-addr until killed.
func fakeServer() {
	addr := ""
	for i, a := range os.Args {
		if a == "--http-addr" && i+1 < len(os.Args) {
			addr = os.Args[i+1]
		}
	}
	fmt.Fprintln(os.Stderr, "fake server on", addr)
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	err := http.ListenAndServe(addr, mux)
	fmt.Fprintln(os.Stderr, "fake server:", err)
	os.Exit(4)
}
