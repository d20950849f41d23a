package storage

import (
	"bytes"
	"testing"
)

func FuzzDecodeAppliedState(f *testing.F) {
	f.Add(EncodeAppliedState(nil, AppliedState{Index: 10, Term: 5, GroupTime: -1}))
	f.Add([]byte{})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeAppliedState(b)
		if err != nil {
			return
		}
		if got := EncodeAppliedState(nil, s); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %x gave %x", b, got)
		}
	})
}

func FuzzDecodeTruncatedState(f *testing.F) {
	f.Add(encodeTruncatedState(nil, LogPoint{10, 5}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeTruncatedState(b)
		if err != nil {
			return
		}
		if got := encodeTruncatedState(nil, s); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %x gave %x", b, got)
		}
	})
}

func TestAppliedStateRoundTrip(t *testing.T) {
	for _, s := range []AppliedState{{}, {Index: 10, Term: 5, GroupTime: 1234}, {Index: 1<<64 - 1, Term: 1, GroupTime: -5}} {
		got, err := DecodeAppliedState(EncodeAppliedState([]byte("prefix")[6:], s))
		if err != nil || got != s {
			t.Fatalf("round trip of %+v: %+v, %v", s, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {1}, append([]byte{2}, make([]byte, 24)...), make([]byte, 26)} {
		if _, err := DecodeAppliedState(bad); err == nil {
			t.Fatalf("DecodeAppliedState(%x) succeeded", bad)
		}
	}
}

func FuzzSplitHardState(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		version, state, err := splitHardState(b)
		if err != nil {
			return
		}
		if version == 0 || !bytes.Equal(append([]byte{version}, state...), b) {
			t.Fatalf("split %x into %d %x", b, version, state)
		}
	})
}

func FuzzDecodeFormat(f *testing.F) {
	f.Add(encodeFormat(FormatVersion))
	f.Add([]byte(`{"format":3,"x":[1]}`))
	f.Add([]byte(`{"format":1e3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeFormat(b)
		if err != nil {
			return
		}
		if v == 0 {
			t.Fatalf("decoded format 0 from %q", b)
		}
		if again, err := decodeFormat(encodeFormat(v)); err != nil || again != v {
			t.Fatalf("round trip of %d: %d, %v", v, again, err)
		}
	})
}
