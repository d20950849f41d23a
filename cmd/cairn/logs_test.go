package main

import (
	"bytes"
	"encoding/json"
	"log"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/grpclog"
)

// Lines that libraries log by themselves come out as slog records, one
// JSON object each under --log-format json, never as Go's log format.
func TestLibraryLogsGoThroughSlog(t *testing.T) {
	prevDefault := slog.Default()
	t.Cleanup(func() {
		slog.SetDefault(prevDefault)
		grpclog.SetLoggerV2(grpclog.NewLoggerV2(discard{}, discard{}, discard{}))
	})
	var buf bytes.Buffer
	routeLibraryLogs(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))

	log.Printf("http: TLS handshake error from %s", "10.0.0.9:5555")
	grpclog.Errorf("grpc: server failed to encode response: %v", "boom")
	grpclog.Warningf("grpc: addrConn.createTransport failed: %v", "refused") // debug: not shown at info
	grpclog.Infof("grpc: channel created")                                   // debug: not shown at info

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2 (the log line and gRPC's error):\n%s", len(lines), buf.String())
	}
	for i, want := range []struct{ level, msg string }{
		{"INFO", "http: TLS handshake error from 10.0.0.9:5555"},
		{"ERROR", "grpc: server failed to encode response: boom"},
	} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %q is not one JSON record: %v", lines[i], err)
		}
		if rec["level"] != want.level || rec["msg"] != want.msg {
			t.Errorf("line %d = %v, want level %s msg %q", i, rec, want.level, want.msg)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
