package driver

import (
	"bytes"
	"testing"
)

func TestSnapHeaderRoundTrip(t *testing.T) {
	gid, from, to, msg, err := decodeSnapHeader(encodeSnapHeader(3, 1, 2, []byte("engine")))
	if err != nil {
		t.Fatal(err)
	}
	if gid != 3 || from != 1 || to != 2 || !bytes.Equal(msg, []byte("engine")) {
		t.Fatalf("decoded %d %d %d %q", gid, from, to, msg)
	}
	if _, _, _, _, err := decodeSnapHeader([]byte{snapHeaderVersion, 3, 1}); err == nil {
		t.Fatal("a truncated header decoded")
	}
	if _, _, _, _, err := decodeSnapHeader([]byte{snapHeaderVersion + 1, 3, 1, 2}); err == nil {
		t.Fatal("a header of an unknown version decoded")
	}
}

func TestChunkRoundTrip(t *testing.T) {
	var c []byte
	c = appendKV(c, []byte("a"), []byte("1"))
	c = appendKV(c, []byte("bb"), nil)
	kvs, err := decodeChunk(nil, c)
	if err != nil || len(kvs) != 2 || string(kvs[0][0]) != "a" || string(kvs[0][1]) != "1" || string(kvs[1][0]) != "bb" {
		t.Fatalf("decodeChunk = %q, %v", kvs, err)
	}
	if _, err := decodeChunk(nil, c[:len(c)-1]); err == nil {
		t.Fatal("a truncated chunk decoded")
	}
}

func FuzzDecodeSnapHeader(f *testing.F) {
	f.Add(encodeSnapHeader(3, 1, 2, []byte("engine")))
	f.Fuzz(func(t *testing.T, b []byte) { _, _, _, _, _ = decodeSnapHeader(b) })
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add(appendKV(nil, []byte("k"), []byte("v")))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = decodeChunk(nil, b) })
}
