package transport

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/testkit"
)

func TestLocalNetwork(t *testing.T) {
	net := NewLocalNetwork()
	h1, h2, h3 := newRecorder(), newRecorder(), newRecorder()
	e1 := net.Endpoint("n1", h1)
	e2 := net.Endpoint("n2", h2)
	e3 := net.EndpointWithClock("n3", h3, clock.NewSkewed(clock.Real{}, 2*time.Second))
	defer func() {
		for _, e := range []Transport{e1, e2, e3} {
			if err := e.Close(); err != nil {
				t.Error(err)
			}
		}
	}()

	t.Run("in order", func(t *testing.T) {
		for i := range 10 {
			e1.Send("n2", seqMsgs(i*10, 10))
		}
		testkit.WaitFor(t, 10*time.Second, "n2 to receive 100 messages", func() bool { return len(h2.received("n1")) == 100 })
		if !inOrder(h2.received("n1")) {
			t.Errorf("messages arrived out of order")
		}
	})
	t.Run("partition drops and reports", func(t *testing.T) {
		net.Partition("n1", "n3")
		e1.Send("n3", seqMsgs(0, 1))
		testkit.WaitFor(t, 10*time.Second, "n1 to report n3 unreachable", func() bool { return h1.unreachableCount("n3") > 0 })
		err := e3.SendSnapshot(context.Background(), "n1", nil, func(func([]byte) error) error { return nil })
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("SendSnapshot across a partition = %v, want ErrUnreachable", err)
		}
		net.Heal()
		e1.Send("n3", seqMsgs(0, 1))
		testkit.WaitFor(t, 10*time.Second, "n3 to receive after healing", func() bool { return len(h3.received("n1")) == 1 })
		if len(h3.received("n1")) != 1 || h3.received("n1")[0].To != 0 {
			t.Errorf("n3 received %v, want only the message sent after healing", h3.received("n1"))
		}
	})
	t.Run("delay keeps order", func(t *testing.T) {
		net.SetLink("n2", "n1", LinkFault{Delay: 5 * time.Millisecond})
		for i := range 5 {
			e2.Send("n1", seqMsgs(i, 1))
		}
		testkit.WaitFor(t, 10*time.Second, "n1 to receive the delayed messages", func() bool { return len(h1.received("n2")) == 5 })
		if !inOrder(h1.received("n2")) {
			t.Errorf("delayed messages arrived out of order")
		}
		net.SetLink("n2", "n1", LinkFault{})
	})
	t.Run("unknown node", func(t *testing.T) {
		e1.Send("n9", seqMsgs(0, 1))
		testkit.WaitFor(t, 10*time.Second, "n1 to report n9 unreachable", func() bool { return h1.unreachableCount("n9") > 0 })
	})
	t.Run("snapshot", func(t *testing.T) {
		var got []string
		h2.snapshot = func(_ context.Context, from string, header []byte, next func() ([]byte, error)) error {
			got = append(got, from, string(header))
			for {
				c, err := next()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				got = append(got, string(c))
			}
		}
		err := e1.SendSnapshot(context.Background(), "n2", []byte("h"), func(yield func([]byte) error) error {
			for _, c := range []string{"a", "b", "c"} {
				if err := yield([]byte(c)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"n1", "h", "a", "b", "c"}; len(got) != len(want) || got[2] != "a" || got[4] != "c" {
			t.Errorf("receiver saw %q, want %q", got, want)
		}
		errBroken := errors.New("broken")
		err = e1.SendSnapshot(context.Background(), "n2", nil, func(yield func([]byte) error) error { return errBroken })
		if !errors.Is(err, errBroken) {
			t.Errorf("SendSnapshot with a failing source = %v, want the source's error through the receiver", err)
		}
	})
	t.Run("clock", func(t *testing.T) {
		if off, ok := e1.ClockOffset("n3"); !ok || (off-2*time.Second).Abs() > 100*time.Millisecond {
			t.Errorf("ClockOffset(n3) = %v, %v; want about 2s", off, ok)
		}
		if !e1.ClockHealthy() || !e2.ClockHealthy() || e3.ClockHealthy() {
			t.Errorf("ClockHealthy = %v, %v, %v; want true, true, false",
				e1.ClockHealthy(), e2.ClockHealthy(), e3.ClockHealthy())
		}
	})
}
