package report

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestWriteIsSelfContainedAndEscaped(t *testing.T) {
	p := Page{
		Title: "bench <run>", Subtitle: "a & b",
		Facts: []Fact{{"protocol", "resp"}, {"evil", `<script>alert(1)</script>`}},
		Sections: []Section{
			{Title: "Throughput", Chart: &Chart{XLabel: "s", YLabel: "ops/s",
				Series: []Series{{Name: "ops/s", Points: []Point{{0, 10}, {1, 20}, {2, 15}}}},
				Bands:  []Band{{From: 0.5, To: 1.5, Label: "kill n1 <x>", Class: BandFault}, {From: 1, To: 1.2, Label: "gap", Class: BandGap}}}},
			{Title: "Empty", Chart: &Chart{}},
			{Title: "Table", Table: &Table{Head: []string{"a"}, Rows: [][]string{{"<b>"}}}},
		},
	}
	var buf bytes.Buffer
	if err := Write(&buf, p); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if _, err := html.Parse(strings.NewReader(out)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<run>", "<x>", "<b>", "http://", "https://", "src="} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
	for _, want := range []string{"<svg", `class="series"`, `class="band-fault"`, `class="band-gap"`, "No data.", "kill n1 &lt;x&gt;"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct{ lo, hi float64 }{{0, 97}, {0, 0.013}, {3, 3}, {10, 5000}} {
		ts := niceTicks(c.lo, c.hi)
		if len(ts) < 2 || len(ts) > 12 {
			t.Errorf("niceTicks(%v, %v) = %v", c.lo, c.hi, ts)
			continue
		}
		if ts[0] > c.lo || ts[len(ts)-1] < c.hi {
			t.Errorf("niceTicks(%v, %v) = %v does not cover the range", c.lo, c.hi, ts)
		}
	}
}
