package driver

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	b := Frame(99, []byte("cmd"))
	Stamp(b, -5)
	id, at, cmd, err := Unframe(b)
	if err != nil || id != 99 || at != -5 || !bytes.Equal(cmd, []byte("cmd")) {
		t.Fatalf("Unframe = %d %d %q %v", id, at, cmd, err)
	}
	if _, _, _, err := Unframe(b[:FrameHeader-1]); err == nil {
		t.Fatal("a short frame decoded")
	}
}

func TestEntryFrame(t *testing.T) {
	b := FrameEntry(42, EntryCheck, 3)
	Stamp(b, 1234)
	d, err := UnframeEntry(b)
	if err != nil || d != (Entry{ID: 42, At: 1234, Kind: EntryCheck, Proposer: 3}) {
		t.Fatalf("UnframeEntry = %+v, %v", d, err)
	}
	if !IsEntry(b) || IsEntry(Frame(1, nil)) || IsEntry(nil) {
		t.Fatal("IsEntry mistakes a frame")
	}
	if _, ok := EntryCommand(b); ok {
		t.Fatal("EntryCommand took a driver entry for a command")
	}
	if _, _, _, err := Unframe(b); err == nil {
		t.Fatal("a driver entry decoded as a command frame")
	}
	if cmd, ok := EntryCommand(Frame(1, []byte("x"))); !ok || string(cmd) != "x" {
		t.Fatal("a command frame no longer decodes")
	}
	if _, err := UnframeEntry(b[:EntryFrameLen-1]); err == nil {
		t.Fatal("a short driver frame decoded")
	}
}

func TestConfFrameRoundTrip(t *testing.T) {
	id, desc, ok := UnframeConf(FrameConf(7, []byte("desc")))
	if !ok || id != 7 || string(desc) != "desc" {
		t.Fatalf("UnframeConf = %d %q %v", id, desc, ok)
	}
	if _, _, ok := UnframeConf([]byte{FrameVersion, 1}); ok {
		t.Fatal("a short context decoded")
	}
}

// The frames are in every stored log: their bytes never change.
func TestFrameBytes(t *testing.T) {
	cmd := Frame(0x0102030405060708, []byte("k"))
	Stamp(cmd, 0x1112131415161718)
	chk := FrameEntry(0x2122232425262728, EntryCheck, 0x3132333435363738)
	Stamp(chk, 0x4142434445464748)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"command", cmd, "01" + "0102030405060708" + "1112131415161718" + "6b"},
		{"check", chk, "02" + "2122232425262728" + "4142434445464748" + "01" + "3132333435363738"},
		{"conf", FrameConf(0x0102030405060708, []byte("d")), "01" + "0102030405060708" + "64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(tc.b); got != tc.want {
				t.Fatalf("bytes %s, want %s", got, tc.want)
			}
		})
	}
}

func FuzzUnframe(f *testing.F) {
	f.Add(Frame(1, []byte("x")))
	f.Add(FrameConf(1, []byte("desc")))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _, _ = Unframe(b)
		_, _, _ = UnframeConf(b)
	})
}

func FuzzUnframeEntry(f *testing.F) {
	f.Add(FrameEntry(1, EntryCheck, 2))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = UnframeEntry(b) })
}
