package kv

import "testing"

func TestCommandSession(t *testing.T) {
	c := NewCommand(Put([]byte("k"), []byte("v")))
	if _, _, ok := CommandSession(c.Encode()); ok {
		t.Fatal("a command without a session has one")
	}
	c.Client, c.Seq = 7, 3
	if client, seq, ok := CommandSession(c.Encode()); !ok || client != 7 || seq != 3 {
		t.Fatalf("session %d/%d %v, want 7/3", client, seq, ok)
	}
	if _, _, ok := CommandSession([]byte{0xff, 0x01}); ok {
		t.Fatal("garbage has a session")
	}
}
