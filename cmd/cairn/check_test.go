package main

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cairnkv/cairn/internal/chaos"
	"github.com/cairnkv/cairn/internal/chaos/runner"
)

// cairn check's exit status (DESIGN.md): 0 pass, 1 what was checked failed,
// 2 a usage or harness error.
func TestCheckExitStatus(t *testing.T) {
	pass := &runner.Result{Summary: chaos.Summary{Verdict: chaos.VerdictOk,
		Histories: []chaos.HistoryCheck{{Name: "register", Verdict: chaos.VerdictOk}}}}
	illegal := &runner.Result{Summary: chaos.Summary{Verdict: chaos.VerdictIllegal,
		Histories: []chaos.HistoryCheck{{Name: "register", Verdict: chaos.VerdictIllegal}}}}
	unknown := &runner.Result{Summary: chaos.Summary{Verdict: chaos.VerdictUnknown,
		Histories: []chaos.HistoryCheck{{Name: "register", Verdict: chaos.VerdictUnknown}}}}
	crashed := &runner.Result{Summary: pass.Summary, NodeFailures: []string{"n1 exited on its own"}}
	for _, c := range []struct {
		name string
		res  *runner.Result
		err  error
		want int
	}{
		{"pass", pass, nil, 0},
		{"illegal", illegal, nil, 1},
		{"unknown", unknown, nil, 1},
		{"a server crashed", crashed, nil, 1},
		{"usage", nil, fmt.Errorf("%w: --nodes 4", runner.ErrConfig), 2},
		{"interrupted", nil, runner.ErrInterrupted, 2},
		{"harness", nil, errors.New("runner: n1 not ready"), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, out := range []string{"table", "json"} {
				var buf bytes.Buffer
				err := printResult(&buf, c.res, c.err, out)
				if got := exitStatus(err); got != c.want {
					t.Fatalf("-o %s: exit %d (%v), want %d", out, got, err, c.want)
				}
				if c.res != nil && buf.Len() == 0 {
					t.Fatalf("-o %s: nothing printed", out)
				}
				if out == "json" && bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
					t.Fatalf("-o json printed %q, want one line", buf.String())
				}
			}
		})
	}
}
