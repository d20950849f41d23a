package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRead(t *testing.T) {
	withRev := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	module := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1"}}, true
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name, stamped string
		rbi           func() (*debug.BuildInfo, bool)
		version, rev  string
		line          string
	}{
		{"stamped wins", "v1.2.3", module, "v1.2.3", "", "cairn v1.2.3 go"},
		{"module version", "", module, "v0.3.1", "", "cairn v0.3.1 go"},
		{"devel with revision", "", withRev, "devel", "0123456789abcdef0123", "cairn devel (0123456789ab, modified) go"},
		{"nothing known", "", none, "devel", "", "cairn devel go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := read(tc.stamped, tc.rbi)
			if i.Version != tc.version || i.Revision != tc.rev {
				t.Fatalf("read = %+v, want version %q revision %q", i, tc.version, tc.rev)
			}
			if !strings.HasPrefix(i.String(), tc.line) {
				t.Fatalf("String() = %q, want prefix %q", i.String(), tc.line)
			}
		})
	}
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "cairn_build_info" || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, want one cairn_build_info series", mfs)
	}
	m := mfs[0].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	i := Get()
	if m.GetGauge().GetValue() != 1 || labels["version"] != i.Version || labels["revision"] != i.Revision || labels["goversion"] != i.GoVersion {
		t.Fatalf("cairn_build_info = %v %v, want 1 with %+v", m.GetGauge().GetValue(), labels, i)
	}
}
