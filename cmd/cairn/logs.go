package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"google.golang.org/grpc/grpclog"
)

// routeLibraryLogs sends what libraries log on their own through l, so
// every line a node writes is one slog record (JSON under --log-format
// json) and none is a bare Go log line: the standard log package (used by
// net/http and others) through slog.SetDefault, and gRPC's logger, whose
// default writes its errors to stderr in Go's log format.
//
// NB: both are process-wide, so the binary sets them, not internal/node
// (tests run several nodes in one process).
func routeLibraryLogs(l *slog.Logger) {
	slog.SetDefault(l)
	grpclog.SetLoggerV2(grpcLogger{l: l.With("component", "grpc")})
}

// grpcLogger adapts slog to grpclog.LoggerV2. gRPC's info and warning
// lines (a peer's connection failing and being retried, every few
// hundred milliseconds while a node is down) are debug here, as gRPC's own
// default discards them; its errors stay errors.
type grpcLogger struct{ l *slog.Logger }

func (g grpcLogger) Info(args ...any)                    { g.l.Debug(fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any)                  { g.l.Debug(fmt.Sprint(args...)) }
func (g grpcLogger) Infof(format string, args ...any)    { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Warning(args ...any)                 { g.l.Debug(fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any)               { g.l.Debug(fmt.Sprint(args...)) }
func (g grpcLogger) Warningf(format string, args ...any) { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Error(args ...any)                   { g.l.Error(fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any)                 { g.l.Error(fmt.Sprint(args...)) }
func (g grpcLogger) Errorf(format string, args ...any)   { g.l.Error(fmt.Sprintf(format, args...)) }
func (g grpcLogger) Fatal(args ...any)                   { g.l.Error(fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any)                 { g.l.Error(fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.l.Error(fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether gRPC's verbosity level l is logged: level 0 (its
// info lines) at debug.
func (g grpcLogger) V(l int) bool {
	return l <= 0 && g.l.Enabled(context.Background(), slog.LevelDebug)
}
