package runner

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
)

// badHistories are known-bad histories of each workload: what the checkers
// must refuse, and what the summary and the exit code must report.
func badHistories() map[string][]chaos.Op {
	ms := int64(time.Millisecond)
	return map[string][]chaos.Op{
		// A stale read: 2 is acknowledged before the read starts, which
		// still sees 1.
		WorkloadRegister: {
			{Client: 0, Kind: chaos.Put, Key: "k", Input: chaos.Input{Value: "1"}, Call: 0, Return: 10, Outcome: chaos.OK},
			{Client: 0, Kind: chaos.Put, Key: "k", Input: chaos.Input{Value: "2"}, Call: 20, Return: 30, Outcome: chaos.OK},
			{Client: 1, Kind: chaos.Get, Key: "k", Call: 40, Return: 50, Output: chaos.Output{Exists: true, Value: "1"}, Outcome: chaos.OK},
			{Client: 1, Kind: chaos.Get, Key: "other", Call: 60, Return: 70, Outcome: chaos.OK},
		},
		// An acknowledged add missing from the final read.
		WorkloadSet: {
			{Client: 0, Kind: chaos.Add, Key: "set", Input: chaos.Input{Value: "a"}, Call: 0, Return: 10, Outcome: chaos.OK},
			{Client: 0, Kind: chaos.Add, Key: "set", Input: chaos.Input{Value: "b"}, Call: 20, Return: 30, Outcome: chaos.OK},
			{Client: 1, Kind: chaos.Read, Key: "set", Call: 40, Return: 50, Output: chaos.Output{Elements: []string{"a"}}, Outcome: chaos.OK},
		},
		// Gone 100 ms into a 10 s TTL.
		WorkloadTTL: {
			{Client: 0, Kind: chaos.TTLPut, Key: "t", Input: chaos.Input{Value: "1", TTL: 10000 * ms}, Call: 0, Return: 10 * ms, Outcome: chaos.OK},
			{Client: 1, Kind: chaos.TTLGet, Key: "t", Call: 100 * ms, Return: 110 * ms, Outcome: chaos.OK},
		},
	}
}

func TestCheckFailsKnownBadHistories(t *testing.T) {
	faults := []chaos.Fault{{Kind: chaos.Partition, Node: "n1", Start: 5, End: 45, Detail: "partition isolate n2,n3 | n1"}}
	for workload, history := range badHistories() {
		t.Run(workload, func(t *testing.T) {
			out := t.TempDir()
			res, err := check(checkInput{Workload: workload, History: history, Faults: faults, Out: out, Timeout: 10 * time.Second, Skew: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed() || res.Summary.Verdict != chaos.VerdictIllegal {
				t.Fatalf("passed a bad %s history: %+v", workload, res.Summary)
			}
			if !strings.Contains(res.Problem(), workload+" illegal") {
				t.Errorf("problem %q does not name the failed history", res.Problem())
			}
			artifact := res.Anomalies
			if workload == WorkloadRegister {
				artifact = res.Visualization
			}
			b, err := os.ReadFile(artifact)
			if err != nil {
				t.Fatalf("no artifact for the failure: %v", err)
			}
			if workload == WorkloadRegister {
				// Only the failed key, with the fault drawn on it.
				if !bytes.Contains(b, []byte("nemesis partition")) || bytes.Contains(b, []byte("get(other)")) {
					t.Errorf("visualization %s: want key k with the partition annotated, without key other", artifact)
				}
			}
			var line bytes.Buffer
			if err := res.WriteJSON(&line); err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(line.Bytes(), &got); err != nil || bytes.Count(line.Bytes(), []byte("\n")) != 1 {
				t.Fatalf("WriteJSON wrote %q (%v): want one JSON line", line.String(), err)
			}
			if got["passed"] != false || got["verdict"] != "illegal" || got["workload"] != workload {
				t.Errorf("summary line %s", line.String())
			}
		})
	}
}

// A good history passes, and an empty one (nothing checked) does not.
func TestCheckVerdicts(t *testing.T) {
	good := []chaos.Op{
		{Client: 0, Kind: chaos.Put, Key: "k", Input: chaos.Input{Value: "1"}, Call: 0, Return: 10, Outcome: chaos.OK},
		{Client: 1, Kind: chaos.Get, Key: "k", Call: 5, Return: 15, Output: chaos.Output{}, Outcome: chaos.OK},
		{Client: 1, Kind: chaos.Put, Key: "k", Input: chaos.Input{Value: "2"}, Call: 20, Return: 30, Outcome: chaos.Indeterminate},
		{Client: 0, Kind: chaos.Get, Key: "k", Call: 40, Return: 50, Output: chaos.Output{Exists: true, Value: "1"}, Outcome: chaos.OK},
	}
	res, err := check(checkInput{Workload: WorkloadRegister, History: good, Out: t.TempDir(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed() || res.Problem() != "" || res.Visualization != "" {
		t.Fatalf("a linearizable history failed: %s", res.Problem())
	}
	// A set run whose final read never succeeded is Unknown: a failure.
	noFinal := []chaos.Op{{Client: 0, Kind: chaos.Add, Key: "set", Input: chaos.Input{Value: "a"}, Call: 0, Return: 10, Outcome: chaos.OK}}
	res, err = check(checkInput{Workload: WorkloadSet, History: noFinal, Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed() || res.Summary.Verdict != chaos.VerdictUnknown {
		t.Fatalf("a set with no final read passed: %+v", res.Summary)
	}
	// A server that crashed fails a run whose histories are fine.
	res, err = check(checkInput{Workload: WorkloadRegister, History: good, Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	res.NodeFailures = []string{"n2 exited on its own"}
	if res.Passed() || !strings.Contains(res.Problem(), "n2 exited") {
		t.Fatalf("a crashed server passed: %q", res.Problem())
	}
}

// CheckHistory reads what a run wrote, faults included.
func TestCheckHistoryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	if err := writeHistory(path, badHistories()[WorkloadRegister]); err != nil {
		t.Fatal(err)
	}
	faults := []chaos.Fault{{Kind: chaos.Kill, Node: "n1", Start: 1, End: 2}}
	if err := writeJSON(filepath.Join(dir, "faults.json"), faults); err != nil {
		t.Fatal(err)
	}
	res, err := CheckHistory(HistoryConfig{History: path, Workload: WorkloadRegister})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed() || res.Summary.Faults[chaos.Kill].Count != 1 || filepath.Dir(res.Visualization) != dir {
		t.Fatalf("result %+v", res)
	}
	var table bytes.Buffer
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"verdict        FAIL: register illegal", "visualization", "kill 1"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if _, err := CheckHistory(HistoryConfig{History: filepath.Join(dir, "missing.jsonl")}); err == nil {
		t.Fatal("a missing history was checked")
	}
}

// An async primary-backup run passes when every lost acknowledged add lies
// within a failover's window of its partition, and fails otherwise.
func TestCheckAsyncLoss(t *testing.T) {
	s := int64(time.Second)
	history := []chaos.Op{
		{Client: 0, Kind: chaos.Add, Key: "set", Input: chaos.Input{Value: "a"}, Call: 0, Return: 1 * s, Outcome: chaos.OK},
		{Client: 1, Kind: chaos.Add, Key: "set", Input: chaos.Input{Value: "b"}, Call: 0, Return: 2 * s, Outcome: chaos.OK},
		{Client: 0, Kind: chaos.Read, Key: "set", Call: 10 * s, Return: 11 * s, Output: chaos.Output{Elements: []string{"b"}}, Outcome: chaos.OK},
	}
	in := func(failovers ...chaos.Failover) checkInput {
		return checkInput{Workload: WorkloadSet, History: history, Out: t.TempDir(),
			Async: &asyncLoss{Failovers: failovers, Window: 5 * time.Second, PartitionOf: func(string) int { return 3 }}}
	}
	res, err := check(in(chaos.Failover{Partition: 3, FromEpoch: 1, ToEpoch: 2, At: 4 * s, LossEntries: 9}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed() || res.Loss == nil || res.Loss.LostAcknowledged != 1 || res.Loss.MaxWindow != 3 || res.Loss.MaxEntries != 9 {
		t.Fatalf("a loss within its failover's window failed: %s; %+v", res.Problem(), res.Loss)
	}
	var b strings.Builder
	if err := res.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"lost_acknowledged":1,"failovers":1,"max_window_s":3`) {
		t.Fatalf("summary %s: %v", b.String(), err)
	}
	for name, f := range map[string]chaos.Failover{
		"other partition": {Partition: 2, At: 4 * s},
		"too long after":  {Partition: 3, At: 7 * s},
		"before the ack":  {Partition: 3, At: s / 2},
	} {
		res, err := check(in(f))
		if err != nil {
			t.Fatal(err)
		}
		if res.Passed() || !strings.Contains(res.Problem(), "outside any failover's window") {
			t.Fatalf("%s: a loss no failover explains passed: %q", name, res.Problem())
		}
	}
}
