package chaos

import (
	"testing"
	"time"
)

func TestAccountLoss(t *testing.T) {
	s := int64(time.Second)
	history := []Op{
		{Kind: Add, Input: Input{Value: "a"}, Outcome: OK, Call: 1 * s, Return: 2 * s},
		{Kind: Add, Input: Input{Value: "b"}, Outcome: OK, Call: 1 * s, Return: 3 * s},
		{Kind: Add, Input: Input{Value: "c"}, Outcome: Indeterminate, Call: 1 * s, Return: 4 * s},
		{Kind: Read, Outcome: OK, Call: 4 * s, Return: 5 * s, Output: Output{Elements: []string{"c"}}},
		{Kind: Add, Input: Input{Value: "d"}, Outcome: OK, Call: 20 * s, Return: 21 * s},
	}
	part := map[string]int{"a": 0, "b": 1, "c": 0, "d": 0}
	failovers := []Failover{
		{Partition: 0, At: 6 * s, LossEntries: 7},
		{Partition: 1, At: 30 * s, LossEntries: 3},
	}
	acc := AccountLoss(history, []string{"a", "b", "c", "d"}, func(e string) int { return part[e] }, failovers, 10*time.Second)
	// a and c: partition 0's failover at 6 s, 4 s and 1 s after them. b:
	// partition 1's failover is 27 s after it, beyond the window. d: acked
	// after partition 0's only failover.
	if acc.LostAcknowledged != 4 || acc.Failovers != 2 || acc.OK() {
		t.Fatalf("account %+v", acc)
	}
	if len(acc.Explained) != 2 || acc.Explained[0].Element != "a" || acc.Explained[0].Before != 4 || acc.Explained[1].Element != "c" {
		t.Fatalf("explained %+v", acc.Explained)
	}
	if len(acc.Unexplained) != 2 || acc.Unexplained[0].Element != "b" || acc.Unexplained[1].Element != "d" {
		t.Fatalf("unexplained %+v", acc.Unexplained)
	}
	if acc.MaxWindow != 4 || acc.MaxEntries != 7 {
		t.Fatalf("max window %v s / %d entries, want 4 s / 7", acc.MaxWindow, acc.MaxEntries)
	}
	ok := AccountLoss(history, []string{"a", "c"}, func(e string) int { return part[e] }, failovers, 10*time.Second)
	if !ok.OK() || ok.String() != "lost 2 acknowledged writes in 2 failovers, all within reported windows (max 4.0 s / 7 entries; bound 10.0 s)" {
		t.Fatalf("account %q", ok.String())
	}
	if none := AccountLoss(history, nil, func(string) int { return 0 }, nil, time.Second); !none.OK() || none.LostAcknowledged != 0 {
		t.Fatalf("nothing lost: %+v", none)
	}
}
