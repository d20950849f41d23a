package transport

import (
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/testkit"
)

// A message's kind reaches the receiver as it was sent: the driver's
// messages travel on the same stream as the engine's, in order, and the
// receiving host tells them apart by Kind alone.
func TestMessageKindCarried(t *testing.T) {
	book := newAddrBook()
	n1 := startNode(t, book, "n1", nil)
	n2 := startNode(t, book, "n2", nil)
	n1.tr.Send("n2", []Message{
		{Group: 3, From: 1, To: 2, Payload: []byte("raft")},
		{Group: 3, From: 1, To: 2, Kind: KindDriver, Payload: []byte("report")},
	})
	testkit.WaitFor(t, 10*time.Second, "n2 to receive both messages", func() bool { return len(n2.h.received("n1")) == 2 })
	got := n2.h.received("n1")
	if got[0].Kind != KindEngine || string(got[0].Payload) != "raft" ||
		got[1].Kind != KindDriver || string(got[1].Payload) != "report" || got[1].Group != 3 || got[1].To != 2 {
		t.Fatalf("received %+v, want an engine message then a driver message", got)
	}
}
