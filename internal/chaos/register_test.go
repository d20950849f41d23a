package chaos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Helpers to write histories by hand: op(kind, key, call, ret) and friends.

func put(client int, key, v string, call, ret int64) Op {
	return Op{Client: client, Kind: Put, Key: key, Input: Input{Value: v}, Call: call, Return: ret, Outcome: OK}
}

func get(client int, key, v string, call, ret int64) Op {
	return Op{Client: client, Kind: Get, Key: key, Output: Output{Exists: true, Value: v}, Call: call, Return: ret, Outcome: OK}
}

func getAbsent(client int, key string, call, ret int64) Op {
	return Op{Client: client, Kind: Get, Key: key, Call: call, Return: ret, Outcome: OK}
}

func del(client int, key string, call, ret int64) Op {
	return Op{Client: client, Kind: Delete, Key: key, Call: call, Return: ret, Outcome: OK}
}

func swap(client int, key, v string, prevExists bool, prev string, call, ret int64) Op {
	return Op{Client: client, Kind: Swap, Key: key, Input: Input{Value: v}, Output: Output{Exists: prevExists, Value: prev},
		Call: call, Return: ret, Outcome: OK}
}

func cas(client int, key, expected, v string, swapped bool, call, ret int64) Op {
	return Op{Client: client, Kind: CAS, Key: key, Input: Input{Value: v, Expected: expected}, Output: Output{Swapped: swapped},
		Call: call, Return: ret, Outcome: OK}
}

func with(op Op, o Outcome) Op {
	op.Outcome = o
	if o != OK {
		op.Output = Output{}
	}
	return op
}

func TestCheckRegisterHandWritten(t *testing.T) {
	tests := []struct {
		name string
		h    []Op
		want Verdict
	}{
		{"empty", nil, VerdictOk},
		{"read your write", []Op{put(0, "x", "a", 0, 10), get(1, "x", "a", 20, 30)}, VerdictOk},
		{"absent before any write", []Op{getAbsent(0, "x", 0, 5), put(0, "x", "a", 10, 20)}, VerdictOk},
		{"stale read after a completed write", []Op{
			put(0, "x", "a", 0, 10),
			put(0, "x", "b", 20, 30),
			get(1, "x", "a", 40, 50),
		}, VerdictIllegal},
		{"reads concurrent with a write see either value", []Op{
			put(0, "x", "a", 0, 10),
			put(0, "x", "b", 20, 40),
			get(1, "x", "a", 25, 30),
			get(2, "x", "b", 26, 31),
		}, VerdictOk},
		{"new value then old value, one read after the other", []Op{
			put(0, "x", "a", 0, 10),
			put(0, "x", "b", 20, 40),
			get(2, "x", "b", 21, 24),
			get(1, "x", "a", 25, 30),
		}, VerdictIllegal},
		{"read of a value never written", []Op{put(0, "x", "a", 0, 10), get(1, "x", "zzz", 20, 30)}, VerdictIllegal},
		{"indeterminate put later read", []Op{
			put(0, "x", "a", 0, 10),
			with(put(0, "x", "b", 20, 30), Indeterminate),
			get(1, "x", "b", 100, 110),
			get(1, "x", "b", 120, 130),
		}, VerdictOk},
		{"indeterminate put never read", []Op{
			put(0, "x", "a", 0, 10),
			with(put(0, "x", "b", 20, 30), Indeterminate),
			get(1, "x", "a", 100, 110),
		}, VerdictOk},
		{"indeterminate put read, then its predecessor again", []Op{
			put(0, "x", "a", 0, 10),
			with(put(0, "x", "b", 20, 30), Indeterminate),
			get(1, "x", "b", 100, 110),
			get(1, "x", "a", 120, 130),
		}, VerdictIllegal},
		{"indeterminate put read before it was invoked", []Op{
			get(1, "x", "b", 0, 10),
			with(put(0, "x", "b", 20, 30), Indeterminate),
		}, VerdictIllegal},
		{"failed put is dropped, so reading its value is illegal", []Op{
			put(0, "x", "a", 0, 10),
			with(put(0, "x", "b", 20, 30), Failed),
			get(1, "x", "b", 100, 110),
		}, VerdictIllegal},
		{"failed and indeterminate reads are dropped", []Op{
			put(0, "x", "a", 0, 10),
			with(getAbsent(1, "x", 20, 30), Failed),
			with(getAbsent(1, "x", 40, 50), Indeterminate),
		}, VerdictOk},
		{"delete then absent", []Op{put(0, "x", "a", 0, 10), del(0, "x", 20, 30), getAbsent(1, "x", 40, 50)}, VerdictOk},
		{"value after a completed delete", []Op{put(0, "x", "a", 0, 10), del(0, "x", 20, 30), get(1, "x", "a", 40, 50)}, VerdictIllegal},
		{"swap returns the previous value", []Op{
			swap(0, "x", "a", false, "", 0, 10),
			swap(0, "x", "b", true, "a", 20, 30),
			get(1, "x", "b", 40, 50),
		}, VerdictOk},
		{"swap returns a wrong previous value", []Op{
			put(0, "x", "a", 0, 10),
			swap(0, "x", "b", true, "c", 20, 30),
		}, VerdictIllegal},
		{"two swaps cannot both see the same previous value", []Op{
			put(0, "x", "a", 0, 10),
			swap(0, "x", "b", true, "a", 20, 40),
			swap(1, "x", "c", true, "a", 21, 41),
		}, VerdictIllegal},
		{"indeterminate swap applies its value", []Op{
			put(0, "x", "a", 0, 10),
			with(swap(0, "x", "b", true, "a", 20, 30), Indeterminate),
			get(1, "x", "b", 40, 50),
		}, VerdictOk},
		{"cas that matched swapped", []Op{
			put(0, "x", "a", 0, 10),
			cas(0, "x", "a", "b", true, 20, 30),
			cas(1, "x", "a", "c", false, 40, 50),
			get(1, "x", "b", 60, 70),
		}, VerdictOk},
		{"cas reports swapped though the value did not match", []Op{
			put(0, "x", "a", 0, 10),
			cas(0, "x", "z", "b", true, 20, 30),
		}, VerdictIllegal},
		{"cas reports not swapped though the value matched", []Op{
			put(0, "x", "a", 0, 10),
			cas(0, "x", "a", "b", false, 20, 30),
		}, VerdictIllegal},
		{"two concurrent cas on one value cannot both win", []Op{
			put(0, "x", "a", 0, 10),
			cas(0, "x", "a", "b", true, 20, 40),
			cas(1, "x", "a", "c", true, 21, 41),
		}, VerdictIllegal},
		{"indeterminate cas that landed", []Op{
			put(0, "x", "a", 0, 10),
			with(cas(0, "x", "a", "b", true, 20, 30), Indeterminate),
			get(1, "x", "b", 40, 50),
		}, VerdictOk},
		{"indeterminate cas that did not land", []Op{
			put(0, "x", "a", 0, 10),
			with(cas(0, "x", "a", "b", true, 20, 30), Indeterminate),
			get(1, "x", "a", 40, 50),
		}, VerdictOk},
		{"indeterminate cas whose condition never held cannot land", []Op{
			put(0, "x", "a", 0, 10),
			with(cas(0, "x", "z", "b", true, 20, 30), Indeterminate),
			get(1, "x", "b", 40, 50),
		}, VerdictIllegal},
		{"cas expecting absence (SET NX)", []Op{
			{Client: 0, Kind: CAS, Key: "x", Input: Input{Value: "a", ExpectAbsent: true}, Output: Output{Swapped: true}, Call: 0, Return: 10, Outcome: OK},
			{Client: 1, Kind: CAS, Key: "x", Input: Input{Value: "b", ExpectAbsent: true}, Output: Output{Swapped: false}, Call: 20, Return: 30, Outcome: OK},
			get(1, "x", "a", 40, 50),
		}, VerdictOk},
		{"intervals are closed: touching ops are concurrent", []Op{
			put(0, "x", "a", 0, 10),
			get(1, "x", "a", 10, 20),
			put(0, "x", "b", 10, 20),
		}, VerdictOk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := CheckRegister(AssignProcesses(tt.h), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s (keys %v)", res.Verdict, tt.want, res.Keys)
			}
		})
	}
}

func TestCheckRegisterPerKey(t *testing.T) {
	h := []Op{
		put(0, "good", "a", 0, 10), get(1, "good", "a", 20, 30),
		put(0, "bad", "b", 0, 10), put(0, "bad", "c", 20, 30), get(1, "bad", "b", 40, 50),
		put(0, "worse", "d", 0, 10), getAbsent(1, "worse", 20, 30),
		with(put(2, "gone", "e", 0, 10), Failed),
	}
	res, err := CheckRegister(h, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Verdict{"good": VerdictOk, "bad": VerdictIllegal, "worse": VerdictIllegal}
	if len(res.Keys) != len(want) {
		t.Fatalf("keys %v, want %v", res.Keys, want)
	}
	for k, v := range want {
		if res.Keys[k] != v {
			t.Errorf("key %s: %s, want %s", k, res.Keys[k], v)
		}
	}
	if res.Verdict != VerdictIllegal || res.Ops != 7 || res.Dropped != 1 {
		t.Errorf("verdict %s ops %d dropped %d, want illegal 7 1", res.Verdict, res.Ops, res.Dropped)
	}
	if got := strings.Join(res.Failed(), ","); got != "bad,worse" {
		t.Errorf("Failed() = %s", got)
	}
}

func TestRegisterOperationsRules(t *testing.T) {
	h := []Op{
		put(0, "x", "a", 0, 10),
		with(put(0, "x", "b", 20, 30), Indeterminate),
		with(put(0, "x", "c", 40, 50), Failed),
		with(getAbsent(1, "x", 60, 70), Indeterminate),
		get(1, "x", "a", 80, 90),
	}
	ops, err := RegisterOperations(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 3 {
		t.Fatalf("%d ops kept, want 3 (failed put and indeterminate get dropped)", len(ops))
	}
	if ops[1].Return != 91 || !ops[1].Output.(RegisterOutput).Unknown {
		t.Errorf("indeterminate put: return %d (want end of history + 1 = 91), output %+v", ops[1].Return, ops[1].Output)
	}
}

func TestRegisterOperationsErrors(t *testing.T) {
	tests := []struct {
		name string
		h    []Op
		want string
	}{
		{"duplicate value", []Op{put(0, "x", "a", 0, 10), put(1, "x", "a", 20, 30)}, "values must be unique"},
		{"set op", []Op{{Kind: Add, Outcome: OK}}, "not a register operation"},
		{"unknown kind", []Op{{Kind: "incr", Outcome: OK}}, "unknown kind"},
		{"return before call", []Op{put(0, "x", "a", 10, 5)}, "before its call"},
		{"unknown outcome", []Op{{Kind: Get, Outcome: "maybe"}}, "unknown outcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckRegister(tt.h, time.Second)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one containing %q", err, tt.want)
			}
		})
	}
	// A failed write retried with the same value is fine: the failed one
	// did not happen.
	if _, err := RegisterOperations([]Op{with(put(0, "x", "a", 0, 10), Failed), put(0, "x", "a", 20, 30)}); err != nil {
		t.Errorf("retry of a failed write: %v", err)
	}
}

// hardKey is a history porcupine cannot settle quickly: many concurrent
// puts, then a read of a value none of them wrote, so every order of the
// puts must be tried before the answer (Illegal) is known.
func hardKey(key string, n int) []Op {
	var h []Op
	for i := range n {
		h = append(h, put(i, key, key+string(rune('A'+i)), 0, 1000))
	}
	return append(h, get(n, key, "never", 2000, 2010))
}

func TestCheckRegisterTimeoutIsUnknown(t *testing.T) {
	res, err := CheckRegister(hardKey("x", 40), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictUnknown || res.Keys["x"] != VerdictUnknown {
		t.Fatalf("verdict %s keys %v, want unknown", res.Verdict, res.Keys)
	}
	if c := res.Check("register"); c.KeysUnknown != 1 || c.Verdict != VerdictUnknown {
		t.Errorf("check %+v", c)
	}
}

// With one key Illegal and another cut short, each gets its own verdict.
func TestCheckRegisterIllegalAndTimeout(t *testing.T) {
	h := hardKey("hard", 40)
	h = append(h, put(0, "bad", "a", 0, 10), put(0, "bad", "b", 20, 30), get(1, "bad", "a", 40, 50))
	h = append(h, put(0, "good", "c", 0, 10), get(1, "good", "c", 20, 30))
	res, err := CheckRegister(h, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Verdict{"hard": VerdictUnknown, "bad": VerdictIllegal, "good": VerdictOk}
	for k, v := range want {
		if res.Keys[k] != v {
			t.Errorf("key %s: %s, want %s", k, res.Keys[k], v)
		}
	}
	if res.Verdict != VerdictIllegal {
		t.Errorf("verdict %s, want illegal", res.Verdict)
	}
}

func TestCheckRegisterSeveralIllegalKeys(t *testing.T) {
	var h []Op
	for _, k := range []string{"a", "b", "c"} {
		h = append(h, put(0, k, k+"1", 0, 10), put(0, k, k+"2", 20, 30), get(1, k, k+"1", 40, 50))
	}
	res, err := CheckRegister(h, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if res.Keys[k] != VerdictIllegal {
			t.Errorf("key %s: %s, want illegal", k, res.Keys[k])
		}
	}
}

func TestWriteVisualization(t *testing.T) {
	h := []Op{
		put(0, "x", "a", 0, 10),
		put(0, "x", "b", 20, 30),
		get(1, "x", "a", 40, 50),
		with(put(2, "y", "c", 5, 15), Indeterminate),
		getAbsent(1, "y", 60, 70),
	}
	res, err := CheckRegister(AssignProcesses(h), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	faults := []Fault{
		{Kind: Partition, Node: "n1", Start: 12, End: 45, Detail: "partition isolate n1 | n2,n3"},
		{Kind: Kill, Node: "n2", Start: 55}, // never healed
	}
	path := filepath.Join(t.TempDir(), "history.html")
	if err := res.WriteVisualization(path, faults...); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<html", "nemesis partition", "nemesis kill", `put(x, \"b\")`, "indeterminate"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("visualization lacks %q", want)
		}
	}
	// Writing again does not pile up annotations.
	if err := res.WriteVisualization(path); err != nil {
		t.Fatal(err)
	}
	b2, _ := os.ReadFile(path)
	if strings.Contains(string(b2), "nemesis kill") {
		t.Error("annotations of an earlier call leaked into a later one")
	}
}

func TestWriteVisualizationEmpty(t *testing.T) {
	res, err := CheckRegister(nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "empty.html")
	if err := res.WriteVisualization(path, Fault{Kind: Kill, Start: 1, End: 2}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("%v %v", fi, err)
	}
}

func TestFaultAnnotations(t *testing.T) {
	anns := FaultAnnotations([]Fault{{Kind: Clock, Node: "n3", Start: 5, End: 9}, {Kind: Pause, Start: 7}}, 100)
	if len(anns) != 2 || anns[0].Tag != "nemesis clock" || anns[0].End != 9 || anns[1].End != 100 {
		t.Fatalf("%+v", anns)
	}
}

// The model partitions events by key too, for CheckEvents users.
func TestRegisterModelEvents(t *testing.T) {
	m := RegisterModel()
	in := func(k Kind, key, v string) RegisterInput { return RegisterInput{Kind: k, Key: key, Value: v} }
	events := []porcupine.Event{
		{ClientId: 0, Kind: porcupine.CallEvent, Value: in(Put, "x", "a"), Id: 0},
		{ClientId: 1, Kind: porcupine.CallEvent, Value: in(Put, "y", "b"), Id: 1},
		{ClientId: 0, Kind: porcupine.ReturnEvent, Value: RegisterOutput{}, Id: 0},
		{ClientId: 1, Kind: porcupine.ReturnEvent, Value: RegisterOutput{}, Id: 1},
		{ClientId: 0, Kind: porcupine.CallEvent, Value: in(Get, "x", ""), Id: 2},
		{ClientId: 0, Kind: porcupine.ReturnEvent, Value: RegisterOutput{Exists: true, Value: "a"}, Id: 2},
		{ClientId: 1, Kind: porcupine.CallEvent, Value: in(Get, "y", ""), Id: 3},
		{ClientId: 1, Kind: porcupine.ReturnEvent, Value: RegisterOutput{Exists: true, Value: "a"}, Id: 3},
	}
	if parts := m.PartitionEvent(events); len(parts) != 2 || len(parts[0]) != 4 || len(parts[1]) != 4 {
		t.Fatalf("partitions %v", parts)
	}
	if porcupine.CheckEvents(m, events) {
		t.Error("y read x's value, yet the history checked linearizable")
	}
	if !porcupine.CheckEvents(m, events[:6]) {
		t.Error("the history without the bad read is linearizable")
	}
}

func TestDescribe(t *testing.T) {
	m := RegisterModel()
	tests := []struct {
		in   RegisterInput
		out  RegisterOutput
		want string
	}{
		{RegisterInput{Kind: Get, Key: "k"}, RegisterOutput{Exists: true, Value: "v"}, `get(k) → "v"`},
		{RegisterInput{Kind: Get, Key: "k"}, RegisterOutput{}, `get(k) → absent`},
		{RegisterInput{Kind: Put, Key: "k", Value: "v"}, RegisterOutput{Unknown: true}, `put(k, "v") → ? (indeterminate)`},
		{RegisterInput{Kind: Swap, Key: "k", Value: "v"}, RegisterOutput{Exists: true, Value: "u"}, `swap(k, "v") → "u"`},
		{RegisterInput{Kind: CAS, Key: "k", Expected: "u", Value: "v"}, RegisterOutput{Swapped: true}, `cas(k, "u" → "v") → swapped`},
		{RegisterInput{Kind: CAS, Key: "k", ExpectAbsent: true, Value: "v"}, RegisterOutput{}, `cas(k, absent → "v") → not swapped`},
		{RegisterInput{Kind: Delete, Key: "k"}, RegisterOutput{}, `delete(k)`},
	}
	for _, tt := range tests {
		if got := m.DescribeOperation(tt.in, tt.out); got != tt.want {
			t.Errorf("DescribeOperation = %s, want %s", got, tt.want)
		}
	}
	if got := m.DescribeState(RegisterState{Exists: true, Value: "v"}); got != `"v"` {
		t.Errorf("DescribeState = %s", got)
	}
	if got := m.DescribeState(RegisterState{}); got != "absent" {
		t.Errorf("DescribeState = %s", got)
	}
	if got := m.DescribeOperationMetadata(registerMeta{index: 3, client: 2, outcome: Indeterminate, err: "deadline"}); got != "op 3, client 2, indeterminate: deadline" {
		t.Errorf("DescribeOperationMetadata = %s", got)
	}
}
