package runner

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
	"github.com/cairnkv/cairn/internal/report"
)

func TestWriteHTML(t *testing.T) {
	s := int64(time.Second)
	var history []chaos.Op
	// 20 s of a put every 100 ms, with nothing succeeding from 8 s to 11 s
	// (failures instead) while a kill is in force from 7 s to 12 s.
	for i := range 200 {
		call := int64(i) * s / 10
		op := chaos.Op{Client: i % 4, Kind: chaos.Put, Key: "k", Input: chaos.Input{Value: strings.Repeat("v", i+1)},
			Call: call, Return: call + s/50, Outcome: chaos.OK}
		if call >= 8*s && call < 11*s {
			// Each failure takes 150 ms, so one is always in flight.
			op.Outcome, op.Err, op.Return = chaos.Failed, "not applied", call+s*15/100
		}
		history = append(history, op)
	}
	dir := t.TempDir()
	if err := writeHistory(filepath.Join(dir, "history.jsonl"), history); err != nil {
		t.Fatal(err)
	}
	faults := []chaos.Fault{{Kind: chaos.Kill, Node: "n2", Start: 7 * s, End: 12 * s, Detail: "kill -9 <n2>"}}
	if err := writeJSON(filepath.Join(dir, "faults.json"), faults); err != nil {
		t.Fatal(err)
	}
	res := &Result{Out: dir, Summary: chaos.NewSummary(history, faults), Replay: "cairn check --seed 1"}
	res.Summary.AddCheck(chaos.HistoryCheck{Name: "register", Workload: "register", Ops: 200, Verdict: chaos.VerdictOk})
	var b bytes.Buffer
	if err := res.WriteHTML(&b, []report.Fact{{Name: "--nodes", Value: "3"}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"PASS", "cairn check --seed 1", `class="band-fault"`, `class="band-gap"`, "kill -9 &lt;n2&gt;", "--nodes",
		"no operation succeeded for 3.0 s"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if n := strings.Count(out, `class="band-gap"`); n != 2 { // one gap, drawn on both charts
		t.Errorf("%d gap bands, want 2 (one gap on each chart)", n)
	}
	if err := (&Result{Out: t.TempDir()}).WriteHTML(&b, nil); err == nil {
		t.Error("a report without a history was written")
	}
}
