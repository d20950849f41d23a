package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// version is set by the release build (Makefile: -X
// github.com/cairnkv/cairn/internal/buildinfo.version=$(VERSION)). Empty: the
// toolchain's record decides.
var version string

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`    // v1.2.3, a pseudo-version, or "devel"
	Revision  string `json:"revision"`   // VCS commit, "" when unknown
	Modified  bool   `json:"modified"`   // built from a work tree with changes
	GoVersion string `json:"go_version"` // go1.26.8
	Platform  string `json:"platform"`   // linux/amd64
}

var get = sync.OnceValue(func() Info { return read(version, debug.ReadBuildInfo) })

// Get returns the running binary's build information.
func Get() Info { return get() }

// read is Get with its inputs passed in, for tests.
func read(stamped string, rbi func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: stamped, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := rbi()
	if ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

// String is the one line cairn version prints.
func (i Info) String() string {
	s := "cairn " + i.Version
	if i.Revision != "" {
		s += " (" + short(i.Revision)
		if i.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return fmt.Sprintf("%s %s %s", s, i.GoVersion, i.Platform)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// Collector is the cairn_build_info gauge: always 1, with the build as
// labels (Prometheus's *_build_info convention), so a dashboard can show
// which version each node runs and spot a rolling upgrade half done.
func Collector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cairn_build_info",
		Help: "Always 1; the labels say which build of cairn this process runs.",
		ConstLabels: prometheus.Labels{
			"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion,
		},
	})
	g.Set(1)
	return g
}
